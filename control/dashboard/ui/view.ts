// A page of the dashboard: mounted once into <main>, refreshed every few seconds with the chosen
// window (seconds), unmounted when the route changes.
export interface View {
  readonly title: string;
  mount(el: HTMLElement): void;
  refresh(windowSeconds: number): Promise<void>;
  unmount?(): void;
}

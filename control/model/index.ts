export { ModelStore, type ModelChange, type ModelSnapshot, type ModelListener, type ModelStoreOptions } from './model-store.ts';

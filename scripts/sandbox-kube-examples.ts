// The policy and route a user applies with kubectl in `npm run sandbox -- --kubernetes`, exactly as
// docs/install.md shows them (tests/kube/docs-examples.test.ts keeps the two identical, and the
// sandbox test applies them to a running sandbox).

/** DENY every request from demo/client's ServiceAccount to the pods labelled app=web in demo. */
export const SANDBOX_DENY_POLICY = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: deny-client
  namespace: demo
spec:
  selector:
    matchLabels:
      app: web
  action: DENY
  rules:
    - from:
        - serviceAccounts: [demo/client]
`;

/** An HTTPRoute on the Service demo/web: a 500 ms timeout under /delay, up to 3 retries of a 503 under /fail-until (the agent's default is 2). */
export const SANDBOX_HTTPROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: demo
spec:
  parentRefs:
    - group: ""
      kind: Service
      name: web
      port: 80
  rules:
    - matches:
        - path: { type: PathPrefix, value: /delay }
      timeouts:
        request: 500ms
      backendRefs:
        - name: web
          port: 80
    - matches:
        - path: { type: PathPrefix, value: /fail-until }
      retry:
        attempts: 3
        codes: [503]
        backoff: 10ms
      backendRefs:
        - name: web
          port: 80
`;

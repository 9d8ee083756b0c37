// swagger-ui-dist ships no types. Only what docs.ts uses: Swagger UI's options
// (https://swagger.io/docs/open-source-tools/swagger-ui/usage/configuration/) and its plugin API
// (https://swagger.io/docs/open-source-tools/swagger-ui/customization/plugin-api/).
declare module "swagger-ui-dist/swagger-ui-es-bundle.js" {
  /** The props of Swagger UI's `DeepLink` component (src/core/components/deep-link.jsx). */
  export interface DeepLinkProps {
    enabled: boolean;
    path: string;
    text: string;
  }

  /** A function component: props in, a React element out (Swagger UI's own React). */
  export type Component<P> = (props: P) => unknown;

  /** What a component wrapper is given besides the component: Swagger UI's system, its React. */
  export interface SwaggerUISystem {
    React: {
      createElement(type: unknown, props: Record<string, unknown> | null, ...children: unknown[]): unknown;
      Fragment: unknown;
    };
  }

  /** Wraps a component whose props we pass through untouched. */
  export type Wrapper = (original: unknown, system: SwaggerUISystem) => Component<Record<string, unknown>>;

  /** A plugin's wrappers of Swagger UI's components, by component name; only the ones we wrap. */
  export interface SwaggerUIPlugin {
    wrapComponents?: {
      DeepLink?: (original: Component<DeepLinkProps>) => Component<DeepLinkProps>;
      InfoContainer?: Wrapper;
      AuthorizeBtnContainer?: Wrapper;
      Input?: Wrapper;
      operations?: Wrapper;
    };
  }

  export interface SwaggerUIOptions {
    dom_id: string;
    url: string;
    deepLinking?: boolean;
    tryItOutEnabled?: boolean;
    persistAuthorization?: boolean;
    validatorUrl?: string | null;
    displayRequestDuration?: boolean;
    defaultModelsExpandDepth?: number;
    plugins?: (() => SwaggerUIPlugin)[];
    syntaxHighlight?: { activated?: boolean; theme?: string };
  }

  export default function SwaggerUI(options: SwaggerUIOptions): unknown;
}

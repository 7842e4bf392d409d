import type { components, paths } from './openapi-types.js';

/**
 * The SDK's public types, all derived from the generated OpenAPI types (openapi-types.ts), so a
 * schema change on the server changes them on the next `npm run client:types`.
 */

type Schemas = components['schemas'];
export type Message = Schemas['Message'];
export type User = Schemas['User'];
export type AuthResult = Schemas['AuthResult'];
export type Conversation = Schemas['Conversation'];
export type Inbox = Schemas['Inbox'];
export type Group = Schemas['Group'];
export type GroupMember = Schemas['GroupMember'];
export type Presence = Schemas['Presence'];
export type Receipt = Schemas['Receipt'];
export type Problem = Schemas['Problem'];
export type ErrorCode = Problem['code'];
export type SendMessageRequest = Schemas['SendMessageRequest'];

export type { components, paths };

export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';
export type Path = keyof paths;
/** The methods a path serves (absent methods are typed `never` by openapi-typescript). */
export type MethodsOf<P extends Path> = {
  [M in Method]: paths[P][M] extends undefined | never ? never : M;
}[Method];
export type Operation<P extends Path, M extends MethodsOf<P>> = NonNullable<paths[P][M]>;

type JsonOf<T> = T extends { content: { 'application/json': infer J } } ? J : undefined;
type Params<O> = O extends { parameters: infer P } ? P : never;

export type JsonBody<O> = O extends { requestBody: infer B }
  ? JsonOf<B>
  : O extends { requestBody?: infer B }
    ? JsonOf<NonNullable<B>> | undefined
    : undefined;
export type QueryOf<O> = Params<O> extends { query?: infer Q } ? ([Q] extends [never] ? undefined : Q) : undefined;
export type PathParamsOf<O> = Params<O> extends { path: infer P } ? ([P] extends [never] ? undefined : P) : undefined;
/** The JSON of the operation's 2xx answers (undefined for 204). */
export type SuccessOf<O> = O extends { responses: infer R }
  ? { [S in keyof R]: S extends 200 | 201 | 202 | 204 ? JsonOf<R[S]> : never }[keyof R]
  : never;

/** What one typed call takes: path parameters, query and body where the operation has them. */
export type CallOptions<O> = {
  path?: PathParamsOf<O>;
  query?: QueryOf<O>;
  body?: JsonBody<O>;
  headers?: Record<string, string>;
  signal?: AbortSignal;
};

import type { z } from 'zod';
export declare const SERVICE_RE: RegExp;
export declare const METHOD_RE: RegExp;
export interface MethodDef<P extends z.ZodTypeAny, R extends z.ZodTypeAny> { params: P; result: R; notification?: false }
export interface NotificationDef<P extends z.ZodTypeAny> { params: P; notification: true }
export type AnyMethodDef = MethodDef<z.ZodTypeAny, z.ZodTypeAny> | NotificationDef<z.ZodTypeAny>;
export interface Contract<S extends string, M extends Record<string, AnyMethodDef>> { service: S; methods: M }
export declare function defineMethod<P extends z.ZodTypeAny, R extends z.ZodTypeAny>(def: MethodDef<P, R>): MethodDef<P, R>;
export declare function defineNotification<P extends z.ZodTypeAny>(def: { params: P }): NotificationDef<P>;
export declare function defineContract<S extends string, M extends Record<string, AnyMethodDef>>(service: S, methods: M): Contract<S, M>;

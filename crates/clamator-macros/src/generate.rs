//! Code generation: one function per emitted item. Generated code names
//! everything by absolute path: `::core::...`, `::std::...`, and the rest
//! through `::clamator::__private` (or `<crate>::__private` with `crate = "..."`),
//! so it compiles under `#![no_implicit_prelude]` and next to any user item.

use proc_macro2::{TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote};

use crate::model::{ContextArg, Contract, Method};

/// Everything the attribute emits.
pub(crate) fn all(c: &Contract) -> TokenStream {
    let t = the_trait(c);
    let contract = contract_struct(c);
    let service = service_adapter(c);
    let client = client(c);
    quote! { #t #contract #service #client }
}

/// `<crate>::__private`, the module generated code reaches the runtime through.
fn private(c: &Contract) -> TokenStream {
    let krate = &c.krate;
    quote!(#krate::__private)
}

/// `base` as a generic parameter name, unless the trait mentions an ident
/// `base` (a params type named `T`, say): then a name no user writes.
fn generic_param(c: &Contract, base: &str) -> syn::Ident {
    fn mentions(tokens: TokenStream, name: &str) -> bool {
        tokens.into_iter().any(|tt| match tt {
            TokenTree::Ident(i) => i == name,
            TokenTree::Group(g) => mentions(g.stream(), name),
            _ => false,
        })
    }
    if mentions(c.item.to_token_stream(), base) {
        format_ident!("__Clamator{}", base)
    } else {
        format_ident!("{}", base)
    }
}

fn names(c: &Contract) -> (syn::Ident, syn::Ident, syn::Ident, syn::Ident) {
    let name = &c.item.ident;
    (
        name.clone(),
        format_ident!("{}Contract", name),
        format_ident!("__{}Service", name),
        format_ident!("{}Client", name),
    )
}

/// The trait, with `async fn` turned into `fn -> impl Future + Send`.
fn the_trait(c: &Contract) -> TokenStream {
    let mut item = c.item.clone();
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Send));
    item.supertraits
        .push(syn::parse_quote!(::core::marker::Sync));
    item.supertraits.push(syn::parse_quote!('static));
    for ti in &mut item.items {
        if let syn::TraitItem::Fn(f) = ti {
            f.sig.asyncness = None;
            let out = match &f.sig.output {
                syn::ReturnType::Default => quote!(()),
                syn::ReturnType::Type(_, ty) => quote!(#ty),
            };
            f.sig.output = syn::parse_quote! {
                -> impl ::core::future::Future<Output = #out> + ::core::marker::Send
            };
        }
    }
    quote!(#item)
}

fn descriptor_expr(c: &Contract) -> TokenStream {
    let p = private(c);
    let service = &c.service;
    let methods = c.methods.iter().map(|m| {
        let wire = &m.wire;
        let rust = m.ident.to_string();
        let params = &m.params;
        let some_text = |e: &Option<syn::Expr>| match e {
            Some(e) => quote!(::core::option::Option::Some(#e)),
            None => quote!(::core::option::Option::None),
        };
        let params_text = some_text(&m.params_schema);
        let result_text = some_text(&m.result_schema);
        let params_schema = match &m.params_schema {
            Some(e) => quote!(#p::schema_from_text(#e)),
            None => quote!(#p::schema_of::<#params>()),
        };
        let (notification, result_schema) = match (&m.result, &m.result_schema) {
            (Some(_), Some(e)) => (
                false,
                quote!(::core::option::Option::Some(#p::schema_from_text(#e))),
            ),
            (Some((ok, _)), None) => (
                false,
                quote!(::core::option::Option::Some(#p::schema_of::<#ok>())),
            ),
            (None, _) => (true, quote!(::core::option::Option::None)),
        };
        quote! {
            #p::MethodDescriptor {
                name: ::std::string::String::from(#wire),
                rust_name: ::std::string::String::from(#rust),
                notification: #notification,
                params_schema: #params_schema,
                result_schema: #result_schema,
                params_schema_text: #params_text,
                result_schema_text: #result_text,
            }
        }
    });
    quote! {
        #p::ContractDescriptor {
            service: ::std::string::String::from(#service),
            methods: ::std::vec![#(#methods),*],
        }
    }
}

/// `XContract`: the descriptor and the `Contract<H>` impl.
fn contract_struct(c: &Contract) -> TokenStream {
    let (tr, contract, service, _) = names(c);
    let p = private(c);
    let h = generic_param(c, "H");
    let vis = &c.item.vis;
    let name = &c.service;
    let descriptor = descriptor_expr(c);
    let doc = format!(
        "The `{name}` contract: pass it with a `{tr}` implementation to `Dispatcher::builder().register`."
    );
    quote! {
        #[doc = #doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy, ::core::default::Default)]
        #vis struct #contract;

        impl #contract {
            /// The service name on the wire.
            #vis const SERVICE: &'static str = #name;

            /// The contract's descriptor: service, wire method names, notifications, JSON Schemas.
            #vis fn descriptor() -> #p::ContractDescriptor {
                #descriptor
            }
        }

        impl<#h: #tr> #p::Contract<#h> for #contract {
            fn descriptor(&self) -> #p::ContractDescriptor {
                #contract::descriptor()
            }
            fn into_service(self, handler: #h) -> #p::Arc<dyn #p::Service> {
                #p::Arc::new(#service {
                    handler: #p::Arc::new(handler),
                    descriptor: #contract::descriptor(),
                })
            }
        }
    }
}

/// A closure that runs the constraint checks of a params value of type
/// `params` (garde's, when the type derives `garde::Validate`; none otherwise).
fn check_fn(p: &TokenStream, params: &syn::Type) -> TokenStream {
    quote! {
        |value: &#params| {
            #[allow(unused_imports)]
            use #p::{CheckByGarde as _, CheckNothing as _};
            (&#p::Checker(value)).clamator_check()
        }
    }
}

/// One arm of `call_with`'s match: decode, check, run the handler (with
/// the context `ctx` when the method takes one).
fn dispatch_arm(p: &TokenStream, m: &Method) -> TokenStream {
    let wire = &m.wire;
    let ident = &m.ident;
    let check = check_fn(p, &m.params);
    let args = match m.context {
        None => quote!(typed),
        Some(ContextArg::Owned) => quote!(typed, ctx),
        Some(ContextArg::Borrowed) => quote!(typed, &ctx),
    };
    // Only a method that takes a context gets one made when the transport
    // gave none: the others pay nothing for it.
    let ctx = m.context.as_ref().map(|_| {
        quote! {
            let ctx = ctx.unwrap_or_else(|| #p::Context::new(
                ::core::clone::Clone::clone(&self.descriptor.service),
                method,
                ::core::option::Option::None,
            ));
        }
    });
    match &m.result {
        Some(_) => quote! {
            #wire => {
                #ctx
                ::core::option::Option::Some(#p::unary(params, #check, move |typed| async move {
                    handler.#ident(#args).await.map_err(::core::convert::Into::<#p::RpcError>::into)
                }))
            }
        },
        None => quote! {
            #wire => {
                #ctx
                ::core::option::Option::Some(#p::notification(params, #check, move |typed| async move {
                    handler.#ident(#args).await
                }))
            }
        },
    }
}

/// The hidden adapter that turns a typed handler into a `Service`.
fn service_adapter(c: &Contract) -> TokenStream {
    let (tr, _, service, _) = names(c);
    let p = private(c);
    let h = generic_param(c, "H");
    let vis = &c.item.vis;
    let arms = c.methods.iter().map(|m| dispatch_arm(&p, m));
    let with_context: Vec<&str> = c
        .methods
        .iter()
        .filter(|m| m.context.is_some())
        .map(|m| m.wire.as_str())
        .collect();
    let wants_context = if with_context.is_empty() {
        quote!(false)
    } else {
        quote!(::core::matches!(method, #(#with_context)|*))
    };
    quote! {
        #[doc(hidden)]
        #vis struct #service<#h> {
            handler: #p::Arc<#h>,
            descriptor: #p::ContractDescriptor,
        }

        impl<#h: #tr> #service<#h> {
            #[allow(unused_variables)]
            fn __clamator_call(
                &self,
                method: &str,
                params: #p::Value,
                ctx: ::core::option::Option<#p::Context>,
            ) -> ::core::option::Option<#p::HandlerFuture> {
                let handler = ::core::clone::Clone::clone(&self.handler);
                match method {
                    #(#arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }

        impl<#h: #tr> #p::Service for #service<#h> {
            fn descriptor(&self) -> &#p::ContractDescriptor {
                &self.descriptor
            }
            fn call(
                &self,
                method: &str,
                params: #p::Value,
            ) -> ::core::option::Option<#p::HandlerFuture> {
                self.__clamator_call(method, params, ::core::option::Option::None)
            }
            fn wants_context(&self, method: &str) -> bool {
                #wants_context
            }
            fn call_with(
                &self,
                method: &str,
                params: #p::Value,
                ctx: #p::Context,
            ) -> ::core::option::Option<#p::HandlerFuture> {
                self.__clamator_call(method, params, ::core::option::Option::Some(ctx))
            }
        }
    }
}

fn client_method(c: &Contract, m: &Method) -> TokenStream {
    let p = private(c);
    let service = &c.service;
    let wire = &m.wire;
    let ident = &m.ident;
    let params = &m.params;
    let pat = &m.params_pat;
    let docs = &m.docs;
    let check = check_fn(&p, params);
    let checked = quote! {
        if let ::core::result::Result::Err(errors) = (#check)(&#pat) {
            return ::core::result::Result::Err(#p::params_invalid(#service, #wire, errors));
        }
    };
    match &m.result {
        Some((ok, _)) => quote! {
            #(#docs)*
            ///
            /// Params that break the contract's constraints fail here, before sending.
            pub async fn #ident(&self, #pat: #params) -> ::core::result::Result<#ok, #p::Error> {
                #checked
                #p::call(&self.transport, #service, #wire, &#pat, self.timeout).await
            }
        },
        None => quote! {
            #(#docs)*
            ///
            /// A notification: returns once the transport accepted it; no reply comes.
            /// Params that break the contract's constraints fail here, before sending.
            pub async fn #ident(&self, #pat: #params) -> ::core::result::Result<(), #p::Error> {
                #checked
                #p::notify(&self.transport, #service, #wire, &#pat).await
            }
        },
    }
}

/// `XClient<T>`: a typed client over any transport.
fn client(c: &Contract) -> TokenStream {
    let (_, _, _, client) = names(c);
    let p = private(c);
    let t = generic_param(c, "T");
    let vis = &c.item.vis;
    let methods = c.methods.iter().map(|m| client_method(c, m));
    let doc = format!(
        "A typed client of the `{}` service over any client transport.",
        c.service
    );
    quote! {
        #[doc = #doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone)]
        #vis struct #client<#t> {
            transport: #t,
            timeout: ::core::option::Option<::core::time::Duration>,
        }

        impl<#t: #p::ClientTransport> #client<#t> {
            /// A client that calls through `transport` with its default timeout.
            pub fn new(transport: #t) -> Self {
                Self { transport, timeout: ::core::option::Option::None }
            }

            /// The same client with a per-call timeout for every method.
            #[must_use]
            pub fn with_timeout(mut self, timeout: ::core::time::Duration) -> Self {
                self.timeout = ::core::option::Option::Some(timeout);
                self
            }

            /// The transport this client calls through.
            pub fn transport(&self) -> &#t {
                &self.transport
            }

            #(#methods)*
        }
    }
}

//! Code generation: one function per emitted item. Generated code names
//! everything by absolute path through `::clamator::__private`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::model::{Contract, Method};

/// Everything the attribute emits.
pub(crate) fn all(c: &Contract) -> TokenStream {
    let t = the_trait(c);
    let contract = contract_struct(c);
    let service = service_adapter(c);
    let client = client(c);
    quote! { #t #contract #service #client }
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
    let service = &c.service;
    let methods = c.methods.iter().map(|m| {
        let wire = &m.wire;
        let rust = m.ident.to_string();
        let params = &m.params;
        let (notification, result_schema) = match &m.result {
            Some((ok, _)) => (
                false,
                quote!(::core::option::Option::Some(::clamator::__private::schema_of::<#ok>())),
            ),
            None => (true, quote!(::core::option::Option::None)),
        };
        quote! {
            ::clamator::__private::MethodDescriptor {
                name: ::std::string::String::from(#wire),
                rust_name: ::std::string::String::from(#rust),
                notification: #notification,
                params_schema: ::clamator::__private::schema_of::<#params>(),
                result_schema: #result_schema,
            }
        }
    });
    quote! {
        ::clamator::__private::ContractDescriptor {
            service: ::std::string::String::from(#service),
            methods: ::std::vec![#(#methods),*],
        }
    }
}

/// `XContract`: the descriptor and the `Contract<H>` impl.
fn contract_struct(c: &Contract) -> TokenStream {
    let (tr, contract, service, _) = names(c);
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
            #vis fn descriptor() -> ::clamator::__private::ContractDescriptor {
                #descriptor
            }
        }

        impl<H: #tr> ::clamator::__private::Contract<H> for #contract {
            fn descriptor(&self) -> ::clamator::__private::ContractDescriptor {
                #contract::descriptor()
            }
            fn into_service(self, handler: H) -> ::clamator::__private::Arc<dyn ::clamator::__private::Service> {
                ::clamator::__private::Arc::new(#service {
                    handler: ::clamator::__private::Arc::new(handler),
                    descriptor: #contract::descriptor(),
                })
            }
        }
    }
}

fn dispatch_arm(m: &Method) -> TokenStream {
    let wire = &m.wire;
    let ident = &m.ident;
    match &m.result {
        Some(_) => quote! {
            #wire => ::core::option::Option::Some(::clamator::__private::unary(params, move |p| async move {
                handler.#ident(p).await.map_err(::core::convert::Into::<::clamator::__private::RpcError>::into)
            })),
        },
        None => quote! {
            #wire => ::core::option::Option::Some(::clamator::__private::notification(params, move |p| async move {
                handler.#ident(p).await
            })),
        },
    }
}

/// The hidden adapter that turns a typed handler into a `Service`.
fn service_adapter(c: &Contract) -> TokenStream {
    let (tr, _, service, _) = names(c);
    let vis = &c.item.vis;
    let arms = c.methods.iter().map(dispatch_arm);
    quote! {
        #[doc(hidden)]
        #vis struct #service<H> {
            handler: ::clamator::__private::Arc<H>,
            descriptor: ::clamator::__private::ContractDescriptor,
        }

        impl<H: #tr> ::clamator::__private::Service for #service<H> {
            fn descriptor(&self) -> &::clamator::__private::ContractDescriptor {
                &self.descriptor
            }
            fn call(
                &self,
                method: &str,
                params: ::clamator::__private::Value,
            ) -> ::core::option::Option<::clamator::__private::HandlerFuture> {
                let handler = ::clamator::__private::Arc::clone(&self.handler);
                match method {
                    #(#arms)*
                    _ => ::core::option::Option::None,
                }
            }
        }
    }
}

fn client_method(c: &Contract, m: &Method) -> TokenStream {
    let service = &c.service;
    let wire = &m.wire;
    let ident = &m.ident;
    let params = &m.params;
    let pat = &m.params_pat;
    let docs = &m.docs;
    match &m.result {
        Some((ok, _)) => quote! {
            #(#docs)*
            pub async fn #ident(&self, #pat: #params) -> ::core::result::Result<#ok, ::clamator::__private::Error> {
                ::clamator::__private::call(&self.transport, #service, #wire, &#pat, self.timeout).await
            }
        },
        None => quote! {
            #(#docs)*
            ///
            /// A notification: returns once the transport accepted it; no reply comes.
            pub async fn #ident(&self, #pat: #params) -> ::core::result::Result<(), ::clamator::__private::Error> {
                ::clamator::__private::notify(&self.transport, #service, #wire, &#pat).await
            }
        },
    }
}

/// `XClient<T>`: a typed client over any transport.
fn client(c: &Contract) -> TokenStream {
    let (_, _, _, client) = names(c);
    let vis = &c.item.vis;
    let methods = c.methods.iter().map(|m| client_method(c, m));
    let doc = format!(
        "A typed client of the `{}` service over any client transport.",
        c.service
    );
    quote! {
        #[doc = #doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone)]
        #vis struct #client<T> {
            transport: T,
            timeout: ::core::option::Option<::core::time::Duration>,
        }

        impl<T: ::clamator::__private::ClientTransport> #client<T> {
            /// A client that calls through `transport` with its default timeout.
            pub fn new(transport: T) -> Self {
                Self { transport, timeout: ::core::option::Option::None }
            }

            /// The same client with a per-call timeout for every method.
            #[must_use]
            pub fn with_timeout(mut self, timeout: ::core::time::Duration) -> Self {
                self.timeout = ::core::option::Option::Some(timeout);
                self
            }

            /// The transport this client calls through.
            pub fn transport(&self) -> &T {
                &self.transport
            }

            #(#methods)*
        }
    }
}

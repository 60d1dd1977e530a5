//! The annotated trait, parsed and checked.

use clamator_names::{
    METHOD_PATTERN, SERVICE_PATTERN, camel_case, is_valid_method, is_valid_service,
};
use proc_macro2::{Span, TokenStream};

use crate::crate_path;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, ItemTrait, LitStr, PathArguments, ReturnType, TraitItem,
    TraitItemFn, Type,
};

/// A contract as the generator needs it.
pub(crate) struct Contract {
    /// The trait as written, minus our attributes.
    pub(crate) item: ItemTrait,
    /// The service name.
    pub(crate) service: String,
    /// The path of the `clamator` crate in generated code (`crate = "..."`).
    pub(crate) krate: syn::Path,
    /// The methods, in declaration order.
    pub(crate) methods: Vec<Method>,
}

/// One method of the contract.
pub(crate) struct Method {
    /// The Rust name.
    pub(crate) ident: syn::Ident,
    /// The wire name.
    pub(crate) wire: String,
    /// The params type.
    pub(crate) params: Type,
    /// The name of the params argument as written.
    pub(crate) params_pat: syn::Pat,
    /// How the method takes the request's `Context`, if it names one after
    /// its params.
    pub(crate) context: Option<ContextArg>,
    /// `Some((ok, err))` for methods, `None` for notifications.
    pub(crate) result: Option<(Type, Type)>,
    /// Doc attributes to repeat on the client method.
    pub(crate) docs: Vec<Attribute>,
    /// `params_schema = EXPR`: the params schema's JSON text (generated contracts).
    pub(crate) params_schema: Option<syn::Expr>,
    /// `result_schema = EXPR`: the result schema's JSON text.
    pub(crate) result_schema: Option<syn::Expr>,
}

/// How a method takes the request's `Context`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContextArg {
    /// `ctx: Context`.
    Owned,
    /// `ctx: &Context`.
    Borrowed,
}

/// `Some` when `ty` is `Context` or `&Context` (by the last path segment:
/// `clamator::Context`, `Context`, ...).
fn context_arg(ty: &Type) -> Option<ContextArg> {
    let (ty, kind) = match ty {
        Type::Reference(r) if r.mutability.is_none() => (&*r.elem, ContextArg::Borrowed),
        other => (other, ContextArg::Owned),
    };
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    (last.ident == "Context" && last.arguments.is_empty()).then_some(kind)
}

/// Collects spanned errors so one compile run reports them all.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        let err = syn::Error::new(span, msg);
        match &mut self.0 {
            Some(all) => all.combine(err),
            None => self.0 = Some(err),
        }
    }
    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// The inherent methods of the generated `XClient<T>`, which a contract
/// method of the same name would collide with.
const CLIENT_METHODS: [&str; 3] = ["new", "with_timeout", "transport"];

/// What `#[clamator(...)]` on a method says.
#[derive(Default)]
struct MethodAttrs {
    notification: bool,
    params_schema: Option<syn::Expr>,
    result_schema: Option<syn::Expr>,
    name: Option<LitStr>,
}

fn take_method_attrs(f: &mut TraitItemFn, errors: &mut Errors) -> MethodAttrs {
    let mut out = MethodAttrs::default();
    let mut kept = Vec::with_capacity(f.attrs.len());
    for attr in f.attrs.drain(..) {
        if !attr.path().is_ident("clamator") {
            kept.push(attr);
            continue;
        }
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("notification") {
                out.notification = true;
                Ok(())
            } else if meta.path.is_ident("name") {
                out.name = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("params_schema") {
                out.params_schema = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("result_schema") {
                out.result_schema = Some(meta.value()?.parse()?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown clamator attribute; expected `notification`, `name = \"...\"`, \
                     `params_schema = TEXT` or `result_schema = TEXT`",
                ))
            }
        });
        if let Err(e) = res {
            errors.push(e.span(), e);
        }
    }
    f.attrs = kept;
    out
}

/// `Result<T, E>` -> `(T, E)`.
fn result_parts(ty: &Type) -> Option<(Type, Type)> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let mut types = args.args.iter().filter_map(|a| match a {
        GenericArgument::Type(t) => Some(t.clone()),
        _ => None,
    });
    Some((types.next()?, types.next()?))
}

fn is_unit(ty: &Type) -> bool {
    matches!(ty, Type::Tuple(t) if t.elems.is_empty())
}

impl Contract {
    pub(crate) fn parse(args: TokenStream, input: TokenStream) -> syn::Result<Contract> {
        let mut service: Option<LitStr> = None;
        let mut krate: Option<syn::Path> = None;
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("service") {
                if service.is_some() {
                    return Err(meta.error("`service` is given twice"));
                }
                service = Some(meta.value()?.parse()?);
                Ok(())
            } else if meta.path.is_ident("crate") {
                if krate.is_some() {
                    return Err(meta.error("`crate` is given twice"));
                }
                krate = Some(crate_path::parse_value(&meta)?);
                Ok(())
            } else {
                Err(meta.error(
                    "unknown contract argument; expected `service = \"...\"` or `crate = \"...\"`",
                ))
            }
        });
        syn::parse::Parser::parse2(parser, args)?;
        let mut item: ItemTrait = syn::parse2(input)?;
        let mut errors = Errors::default();

        let service_name = match &service {
            Some(lit) => {
                let s = lit.value();
                if !is_valid_service(&s) {
                    errors.push(
                        lit.span(),
                        format!("invalid service name {s:?}: it must match {SERVICE_PATTERN}"),
                    );
                }
                s
            }
            None => {
                errors.push(
                    Span::call_site(),
                    "missing service name: write #[clamator::contract(service = \"my-service\")]",
                );
                String::new()
            }
        };
        if !item.generics.params.is_empty() {
            errors.push(item.generics.span(), "a contract trait cannot be generic");
        }

        let mut methods: Vec<Method> = Vec::new();
        for trait_item in &mut item.items {
            let TraitItem::Fn(f) = trait_item else {
                errors.push(
                    trait_item.span(),
                    "a contract trait holds only `async fn` methods",
                );
                continue;
            };
            let attrs = take_method_attrs(f, &mut errors);
            if let Some(m) = Self::method(f, attrs, &mut errors) {
                if let Some(prev) = methods.iter().find(|p| p.wire == m.wire) {
                    errors.push(
                        f.sig.ident.span(),
                        format!(
                            "duplicate wire method name {:?} (also used by `{}`); give one of them \
                             #[clamator(name = \"...\")]",
                            m.wire, prev.ident
                        ),
                    );
                }
                methods.push(m);
            }
        }
        errors.finish()?;
        Ok(Contract {
            item,
            service: service_name,
            krate: krate.unwrap_or_else(crate_path::default_path),
            methods,
        })
    }

    fn method(f: &TraitItemFn, attrs: MethodAttrs, errors: &mut Errors) -> Option<Method> {
        let sig = &f.sig;
        if sig.asyncness.is_none() {
            errors.push(sig.fn_token.span(), "contract methods must be `async fn`");
        }
        if f.default.is_some() {
            errors.push(f.span(), "contract methods cannot have a default body");
        }
        if !sig.generics.params.is_empty() {
            errors.push(sig.generics.span(), "contract methods cannot be generic");
        }
        if CLIENT_METHODS.iter().any(|m| sig.ident == m) {
            errors.push(
                sig.ident.span(),
                format!(
                    "`{}` is a method of the generated client already; rename it and keep the \
                     wire name with #[clamator(name = \"...\")]",
                    sig.ident
                ),
            );
        }
        let wire = match &attrs.name {
            Some(lit) => {
                let w = lit.value();
                if !is_valid_method(&w) {
                    errors.push(
                        lit.span(),
                        format!("invalid method name {w:?}: it must match {METHOD_PATTERN}"),
                    );
                }
                w
            }
            None => {
                let w = camel_case(&sig.ident.to_string());
                if !is_valid_method(&w) {
                    errors.push(
                        sig.ident.span(),
                        format!(
                            "the wire name {w:?} derived from `{}` is invalid (it must match \
                             {METHOD_PATTERN}); rename it or set #[clamator(name = \"...\")]",
                            sig.ident
                        ),
                    );
                }
                w
            }
        };
        let mut inputs = sig.inputs.iter();
        match inputs.next() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.mutability.is_none() => {}
            _ => errors.push(sig.inputs.span(), "contract methods take `&self` first"),
        }
        let (params, params_pat, context) = match (inputs.next(), inputs.next(), inputs.next()) {
            (Some(FnArg::Typed(pt)), None, None) => ((*pt.ty).clone(), (*pt.pat).clone(), None),
            (Some(FnArg::Typed(pt)), Some(FnArg::Typed(ct)), None)
                if context_arg(&ct.ty).is_some() =>
            {
                ((*pt.ty).clone(), (*pt.pat).clone(), context_arg(&ct.ty))
            }
            _ => {
                errors.push(
                    sig.inputs.span(),
                    "contract methods take exactly one params argument after `&self`, e.g. \
                     `params: AddParams`, optionally followed by the request's context, \
                     `ctx: clamator::Context`",
                );
                return None;
            }
        };
        let result = match (&sig.output, attrs.notification) {
            (ReturnType::Default, true) => None,
            (ReturnType::Type(_, ty), true) if is_unit(ty) => None,
            (ReturnType::Type(_, ty), true) => {
                errors.push(
                    ty.span(),
                    "a notification has no result: remove the return type",
                );
                None
            }
            (ReturnType::Default, false) => {
                errors.push(
                    sig.ident.span(),
                    "a method returns `Result<T, RpcError>`; mark fire-and-forget methods #[clamator(notification)]",
                );
                None
            }
            (ReturnType::Type(_, ty), false) => match result_parts(ty) {
                Some(parts) => Some(parts),
                None => {
                    errors.push(ty.span(), "a method returns `Result<T, RpcError>`");
                    None
                }
            },
        };
        let docs = f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect();
        Some(Method {
            ident: sig.ident.clone(),
            wire,
            params,
            params_pat,
            context,
            result,
            docs,
            params_schema: attrs.params_schema,
            result_schema: attrs.result_schema,
        })
    }
}

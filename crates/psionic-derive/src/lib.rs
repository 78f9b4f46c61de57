//! `#[derive(Module)]`: a psionic-nn `Module` implementation from a struct's fields.
//!
//! Fields marked `#[param]`, `#[buffer]`, `#[child]` or `#[training]` are the module's
//! members, visited in field order under their field names (PyTorch's registration
//! order and state_dict keys); unmarked fields (sizes, options) are not members.
//!
//! - `#[param]` on a `Tensor`, an `Option<Tensor>` (registered as absent when `None`),
//!   a `Vec<Tensor>` (`name.0`, `name.1`, ...) or a `Vec<(String, Tensor)>` (`name.key`).
//! - `#[buffer]` on a `Tensor` or `Option<Tensor>`; `#[buffer(persistent = false)]`
//!   keeps it out of `state_dict`.
//! - `#[child]` on a module, an `Option` of one, a `Vec` of them (`name.0`, ...) or a
//!   `Vec<(String, _)>` (`name.key`).
//! - `#[training]` on the module's `Training` flag.
//! - `name = "..."` renames a member (`#[child(name = "attn.c_attn")]`); `flatten` drops
//!   the field's name: a collection's items are named by index or key alone, and a
//!   single child's members become the parent's own.
//! - `#[module(visit = method)]` on a field calls `self.method(f)` at that point, for
//!   members whose names are computed (an RNN's `weight_ih_l0_reverse`).
//!
//! On the struct, `#[module(name = "Linear")]` (or `name = method` for a name computed
//! from `&self`) sets PyTorch's class name (default: the struct's name), `repr = method`
//! gives `extra_repr`, `bound = "M: Module"` adds a where-clause predicate (for generic
//! containers), and `crate = path` names psionic-nn where it is not `::psionic_nn`
//! (`crate = psionic::nn` through the umbrella crate).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Error, Expr, ExprLit, Fields, Lit, LitStr, Meta, Path, Result};

#[proc_macro_derive(Module, attributes(module, param, buffer, child, training))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input).unwrap_or_else(Error::into_compile_error).into()
}

/// How the struct names itself and where psionic-nn is.
struct StructOpts {
    name: Tokens,
    repr: Option<Tokens>,
    krate: Tokens,
    bounds: Vec<syn::WherePredicate>,
}

fn struct_opts(input: &DeriveInput) -> Result<StructOpts> {
    let ident = input.ident.to_string();
    let mut opts = StructOpts { name: quote!(#ident), repr: None, krate: quote!(::psionic_nn), bounds: vec![] };
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|m| {
            if m.path.is_ident("bound") {
                let s: LitStr = m.value()?.parse()?;
                opts.bounds.push(s.parse()?);
                return Ok(());
            }
            let value: Expr = m.value()?.parse()?;
            if m.path.is_ident("name") {
                opts.name = match &value {
                    Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => quote!(#s),
                    Expr::Path(p) => quote!(self.#p()),
                    _ => return Err(m.error("`name` is a string or a method of the struct")),
                };
            } else if m.path.is_ident("repr") {
                let Expr::Path(p) = &value else { return Err(m.error("`repr` is a method of the struct")) };
                opts.repr = Some(quote!(self.#p()));
            } else if m.path.is_ident("crate") {
                let Expr::Path(p) = &value else { return Err(m.error("`crate` is a path")) };
                opts.krate = quote!(#p);
            } else {
                return Err(m.error("expected `name`, `repr`, `crate` or `bound`"));
            }
            Ok(())
        })?;
    }
    Ok(opts)
}

const MEMBER_ATTRS: [&str; 5] = ["param", "buffer", "child", "training", "module"];

fn is_member(attr: &syn::Attribute) -> bool {
    MEMBER_ATTRS.iter().any(|k| attr.path().is_ident(k))
}

/// One field's visit, in the generated `visit`.
fn field_visit(field: &syn::Field, krate: &Tokens) -> Result<Option<Tokens>> {
    let ident = field.ident.as_ref().expect("named fields");
    let mut out = None;
    for attr in &field.attrs {
        let kind = MEMBER_ATTRS.into_iter().find(|k| attr.path().is_ident(k));
        let Some(kind) = kind else { continue };
        if out.is_some() {
            return Err(Error::new_spanned(attr, "a field is one kind of member"));
        }
        let mut name = LitStr::new(&ident.to_string(), ident.span());
        let (mut flatten, mut persistent, mut visit): (bool, bool, Option<Path>) = (false, true, None);
        if let Meta::List(_) = &attr.meta {
            attr.parse_nested_meta(|m| {
                if m.path.is_ident("name") {
                    name = m.value()?.parse()?;
                } else if m.path.is_ident("flatten") {
                    flatten = true;
                } else if m.path.is_ident("persistent") && kind == "buffer" {
                    let v: syn::LitBool = m.value()?.parse()?;
                    persistent = v.value;
                } else if m.path.is_ident("visit") && kind == "module" {
                    visit = Some(m.value()?.parse()?);
                } else {
                    return Err(m.error("unknown option for this member"));
                }
                Ok(())
            })?;
        }
        let name = if flatten { LitStr::new("", name.span()) } else { name };
        out = Some(match kind {
            "param" => quote!(#krate::members::Params::visit_params(&self.#ident, #name, f);),
            "buffer" => quote!(#krate::members::Buffers::visit_buffers(&self.#ident, #name, #persistent, f);),
            "child" => quote!(#krate::members::Children::visit_children(&self.#ident, #name, f);),
            "training" => quote!(f(#name, #krate::Member::Training(&self.#ident));),
            _ => match visit {
                Some(method) => quote!(self.#method(f);),
                None => return Err(Error::new_spanned(attr, "expected `#[module(visit = method)]`")),
            },
        });
    }
    Ok(out)
}

fn expand(input: &DeriveInput) -> Result<Tokens> {
    let opts = struct_opts(input)?;
    let krate = &opts.krate;
    let visits: Vec<Tokens> = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named
                .named
                .iter()
                .map(|f| field_visit(f, krate))
                .filter_map(Result::transpose)
                .collect::<Result<_>>()?,
            Fields::Unit => vec![],
            // A tuple struct holds options (`PixelShuffle(2)`), never members.
            Fields::Unnamed(fields) => match fields.unnamed.iter().flat_map(|f| &f.attrs).find(|a| is_member(a)) {
                Some(a) => return Err(Error::new_spanned(a, "members need named fields")),
                None => vec![],
            },
        },
        _ => return Err(Error::new_spanned(&input.ident, "#[derive(Module)] is for structs")),
    };
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    generics.make_where_clause().predicates.extend(opts.bounds.iter().cloned());
    let (imp, ty, wh) = generics.split_for_impl();
    let name = &opts.name;
    let repr = opts.repr.as_ref().map(|r| quote!(fn extra_repr(&self) -> ::std::string::String { #r }));
    // An unused `f` in a module without members is fine.
    Ok(quote! {
        impl #imp #krate::Module for #ident #ty #wh {
            fn type_name(&self) -> &'static str {
                #name
            }
            #[allow(unused_variables)]
            fn visit<'a>(&'a self, f: &mut dyn FnMut(&str, #krate::Member<'a>)) {
                #(#visits)*
            }
            #repr
        }
    })
}

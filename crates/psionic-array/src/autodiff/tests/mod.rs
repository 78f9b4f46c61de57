mod check;
mod custom;
mod functional;
mod index_ops;
mod ops;
mod oracle;
mod torch_face;
mod vmap;

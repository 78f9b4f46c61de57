mod check;
mod custom;
mod functional;
mod ops;
mod oracle;
mod torch_face;
mod vmap;

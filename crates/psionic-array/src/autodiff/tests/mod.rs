mod check;
mod custom;
mod functional;
mod ops;
mod torch_face;
mod vmap;

mod check;
mod functional;
mod ops;
mod torch_face;

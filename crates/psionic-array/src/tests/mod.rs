mod composite;
mod indexing;
mod linalg;
mod oracle;
mod properties;
mod random;
mod semantics;
mod structure;

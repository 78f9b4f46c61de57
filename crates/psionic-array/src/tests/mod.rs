mod composite;
mod indexing;
mod oracle;
mod properties;
mod semantics;

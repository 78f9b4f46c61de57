mod composite;
mod oracle;
mod properties;
mod semantics;

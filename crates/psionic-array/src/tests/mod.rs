mod oracle;
mod properties;
mod semantics;

mod oracle;
mod semantics;

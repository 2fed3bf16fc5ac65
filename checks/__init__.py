"""nnlint's rules, one module per family; each rule registers itself with `@rule`."""

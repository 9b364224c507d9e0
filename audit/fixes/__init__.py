"""`audit fix` by role: `knowledge` (the `[fix]` tables), `context` (the tree read through its Source),
`ctext` (C text and tree-sitter helpers), `policy` (which sites convert), `lifetime` (FOLL_LONGTERM),
`rewrite` (the edits), `plan` (the fixpoint over all sites), `patch` (diff and `git am` output)."""

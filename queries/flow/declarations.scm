;; queries/flow/declarations.scm
;; The declarations under a function body (audit/flow.py reads the scalar types of its locals).
;; Captures:  @flow.decl  a declaration
;; Used by:   flow.build (the scalar parameters and locals)

(declaration) @flow.decl

;; queries/facts/functions.scm
;; Function definitions: name, parameters, body range. Functions tree-sitter cannot build (unbalanced
;; #ifdef braces, SYSCALL_DEFINEn) are found by the kernel-layout fallback in parse.py.
;; Captures:  @func.def   the definition
;;            @func.decl  its declarator (name and parameter list inside)
;;            @func.body  the compound statement
;; Used by:   every gup-* rule (enclosing function, summaries)

(function_definition
  declarator: (_) @func.decl
  body: (compound_statement) @func.body) @func.def

;; queries/fix/values.scm
;; Where a function's values come from and go to, for `audit fix`'s escape and origin checks:
;; declarations, initialisers, assignments, returns and calls (Python reads their fields).
;; Captures:  @value.decl    a declaration (`struct page **pages;`)
;;            @value.init    an initialised declarator (`p = ctx->page`)
;;            @value.assign  an assignment
;;            @value.return  a return statement
;;            @value.call    a direct call
;; Used by:   audit fix (where the pages outlive the function, where a helper's pages come from,
;;            whether a loop bound is unsigned)

(declaration) @value.decl

(init_declarator) @value.init

(assignment_expression) @value.assign

(return_statement) @value.return

(call_expression
  function: (identifier)) @value.call

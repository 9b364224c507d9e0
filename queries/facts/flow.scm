;; queries/facts/flow.scm
;; Where values move inside a function: assignments, initialised declarations, struct-typed locals.
;; Captures:  @assign.lhs / @assign.rhs   `lhs = rhs` (compound assignments too)
;;            @init.decl / @init.value    `T *lhs = rhs;`
;;            @decl.struct / @decl.var    `struct tag *var` (declarations, parameters, fields)
;; Used by:   every gup-* rule (aliases of the pages value, field stores, struct types)

(assignment_expression
  left: (_) @assign.lhs
  right: (_) @assign.rhs)

(init_declarator
  declarator: (_) @init.decl
  value: (_) @init.value)

(declaration
  type: (struct_specifier
    name: (type_identifier) @decl.struct)
  declarator: (_) @decl.var)

(field_declaration
  type: (struct_specifier
    name: (type_identifier) @decl.struct)
  declarator: (_) @decl.var)

(return_statement
  (_) @ret.value)

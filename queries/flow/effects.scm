;; queries/flow/effects.scm
;; What the statements of a function body evaluate (audit/flow.py): calls, assignments,
;; initialised declarators and increments, found once per body and handed to each flow node.
;; Captures:  @flow.effect  a call, assignment, initialised declarator or increment
;; Used by:   flow.build (one query per body instead of a Python walk per statement)

[
  (call_expression)
  (assignment_expression)
  (init_declarator)
  (update_expression)
] @flow.effect

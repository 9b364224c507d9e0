;; queries/fix/teardowns.scm
;; Where a function may be registered as an object's teardown; Python keeps the members and calls
;; that `[fix]` lists (`teardown_fields`, `teardown_calls`).
;; Captures:  @teardown.pair    a designated initializer of a plain name (`.release = f`)
;;            @teardown.assign  a member assignment of a plain name (`x->release = f`)
;;            @teardown.call    a direct call (`kref_put(&r, f)`)
;; Used by:   audit fix (FOLL_LONGTERM: pages released from a teardown)

(initializer_pair
  value: (identifier)) @teardown.pair

(assignment_expression
  left: (field_expression)
  right: (identifier)) @teardown.assign

(call_expression
  function: (identifier)) @teardown.call

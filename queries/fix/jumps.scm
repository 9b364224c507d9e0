;; queries/fix/jumps.scm
;; Labels and gotos of a function body.
;; Captures:  @jump.label  a labelled statement
;;            @jump.goto   a goto statement
;; Used by:   audit fix (a loop removed only when no backward jump crosses it)

(labeled_statement) @jump.label

(goto_statement) @jump.goto

;; queries/facts/calls.scm
;; Every call whose callee is a plain identifier: acquires, releases, wrappers, the call graph.
;; Indirect calls (ops->release(p), (*fn)(p)) have other callee nodes and are not matched.
;; Captures:  @call.fn    callee identifier (its position is the site's line/column)
;;            @call.args  argument list; split into arguments in Python
;;            @call.expr  the whole call expression
;; Used by:   every gup-* rule (acquire sites, releases, call graph)

(call_expression
  function: (identifier) @call.fn
  arguments: (argument_list) @call.args) @call.expr

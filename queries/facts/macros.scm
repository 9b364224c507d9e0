;; queries/facts/macros.scm
;; Function-like macros. Their bodies are opaque text (preproc_arg); Python scans them for catalogue
;; names and records the macro as a wrapper, whose uses are ordinary calls.
;; Captures:  @macro.name    the macro's name
;;            @macro.params  its parameter list
;;            @macro.body    the replacement text
;; Used by:   gup-* rules (macro wrappers of acquire and release APIs)

(preproc_function_def
  name: (identifier) @macro.name
  parameters: (preproc_params) @macro.params
  value: (preproc_arg) @macro.body)

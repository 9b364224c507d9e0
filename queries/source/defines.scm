;; queries/source/defines.scm
;; Function-like macro definitions, with or without a replacement text (facts/macros.scm needs one).
;; Captures:  @define.def   the whole #define
;;            @define.name  the macro's name
;; Used by:   the COW profile (reuse predicates defined as macros: the !CONFIG_SWAP reuse_swap_page)

(preproc_function_def
  name: (identifier) @define.name) @define.def

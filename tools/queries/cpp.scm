; Definitions: functions and methods (in-class, out-of-class Foo::bar, prototypes), classes, structs, enums, typedefs.
(function_definition declarator: (function_declarator declarator: (identifier) @name.definition.function)) @definition.function
(function_definition
  declarator: (pointer_declarator declarator: (function_declarator declarator: (identifier) @name.definition.function))) @definition.function
(function_definition
  declarator: (reference_declarator (function_declarator declarator: (identifier) @name.definition.function))) @definition.function
(function_definition declarator: (function_declarator declarator: (field_identifier) @name.definition.method)) @definition.method
(function_definition
  declarator: (function_declarator declarator: (qualified_identifier name: (identifier) @name.definition.method))) @definition.method
(declaration declarator: (function_declarator declarator: (identifier) @name.definition.function)) @definition.function
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name.definition.method)) @definition.method
(class_specifier name: (type_identifier) @name.definition.class body: (_)) @definition.class
(struct_specifier name: (type_identifier) @name.definition.struct body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name.definition.struct body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name.definition.enum body: (_)) @definition.enum
(type_definition declarator: (type_identifier) @name.definition.type) @definition.type
(alias_declaration name: (type_identifier) @name.definition.type) @definition.type

; References: calls (free, member, qualified, templated) and type uses.
(call_expression function: (identifier) @name.reference.call)
(call_expression function: (field_expression field: (field_identifier) @name.reference.call))
(call_expression function: (qualified_identifier name: (identifier) @name.reference.call))
(call_expression function: (qualified_identifier name: (template_function name: (identifier) @name.reference.call)))
(call_expression function: (template_function name: (identifier) @name.reference.call))
(type_identifier) @name.reference.type

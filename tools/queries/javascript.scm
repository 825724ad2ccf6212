; Definitions: classes, methods, named functions and functions bound to a name.
(class_declaration name: (_) @name.definition.class) @definition.class
(class name: (_) @name.definition.class) @definition.class
(method_definition name: (property_identifier) @name.definition.method) @definition.method
(function_declaration name: (identifier) @name.definition.function) @definition.function
(generator_function_declaration name: (identifier) @name.definition.function) @definition.function
(variable_declarator
  name: (identifier) @name.definition.function
  value: [(arrow_function) (function_expression)]) @definition.function

; References: calls, constructions, superclasses.
(call_expression function: (identifier) @name.reference.call)
(call_expression function: (member_expression property: (property_identifier) @name.reference.call))
(new_expression constructor: (identifier) @name.reference.class)
(new_expression constructor: (member_expression property: (property_identifier) @name.reference.class))
(class_heritage (identifier) @name.reference.class)

; JSX (JavaScript and TSX): a capitalised element is a use of the component of that name.
(jsx_opening_element name: (identifier) @name.reference.class)
(jsx_self_closing_element name: (identifier) @name.reference.class)

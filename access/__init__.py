"""What a caller may do: the scope catalogue and grant rules, the role table, the tenancy gate
and the one permission class every API view goes through."""

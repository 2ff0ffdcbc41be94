"""The searchable spellings of the accounts an index holds (names, aliases, other word orders)."""

__all__ = ["Variants"]


class Variants:
    """The searchable spellings of the accounts (names, aliases, other orders), column by column.

    Columns rather than one object per spelling: the garbage collector walks every container
    object alive, in every full collection of the process, for as long as the index lives.
    """

    __slots__ = ("abbreviated", "account", "is_alias", "text", "tokens")

    def __init__(self) -> None:
        self.account: list[int] = []  # index into AccountIndex._accounts
        self.text: list[str] = []  # normalised name, reported as matched_on
        self.tokens: list[tuple[str, ...]] = []  # in the name's order, or another (EDGAR's)
        self.is_alias: list[bool] = []
        self.abbreviated: list[frozenset[str]] = []  # tokens written abbreviated ("Tech")

    def __len__(self) -> int:
        return len(self.account)

    def add(
        self,
        account: int,
        text: str,
        tokens: tuple[str, ...],
        is_alias: bool,
        abbreviated: frozenset[str],
    ) -> int:
        """Append one spelling and return its id."""
        self.account.append(account)
        self.text.append(text)
        self.tokens.append(tokens)
        self.is_alias.append(is_alias)
        self.abbreviated.append(abbreviated)
        return len(self.account) - 1

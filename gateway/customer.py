"""A customer as the caller may see them: master fields through the guard, contracts fetched from partners
in one batch per partner, and the portfolio computed only from what the caller may see in full."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gateway.selection import response_keys, wanted_by_type
from gateway.types import (
    CONTRACT_CLASSES,
    Address,
    Consent,
    Consultant,
    Contract,
    Money,
    Partner,
    ProductType,
)
from privacy import Guard
from resolvers import (
    CONTRACT_ID,
    MASTER_OWNER,
    TYPE_OF_PRODUCT,
    ContractRef,
    ContractValues,
    MoneyValue,
    PartnerError,
    models,
)

# Which partner value counts towards which side of the portfolio.
ASSET_FIELDS = {"BankAccount": "balance", "Depot": "marketValue", "LifePolicy": "surrenderValue"}
LIABILITY_FIELDS = {"Loan": "outstanding"}
TERMINATED = "terminated"  # the master's status of a contract that has ended


@strawberry.type(description="Totals across partners, computed only from values the caller may see.")
class PortfolioSummary:
    assets: list[Money] = strawberry.field(description="Sum of balances, depot values and surrender values, "
                                                       "one entry per currency.")
    liabilities: list[Money] = strawberry.field(description="Sum of outstanding loan amounts per currency.")
    complete: bool = strawberry.field(description="False when the value of a contract listed to you could not "
                                                  "be counted (partner unavailable or value not visible to you "
                                                  "in full).")
    missing_contracts: list[strawberry.ID] = strawberry.field(
        description="Contracts still held whose value is not in the totals.")
    terminated_contracts: list[strawberry.ID] = strawberry.field(
        description="Terminated contracts of the kinds the totals count (accounts, loans, life policies, depots): "
                    "never in the totals, listed apart (their `endDate` says since when). "
                    "Empty when the agreement does not show you contract status.")


async def active_consents(info: Info, customer_id: str) -> frozenset[str]:
    """Purposes this customer has granted and not withdrawn, read fresh for every request."""
    rows = await info.context.master_loaders.consents.load(customer_id)
    return frozenset(r.purpose for r in rows if r.withdrawn_at is None)


@strawberry.type(description="A customer of the relationship manager, joined with their contracts at partners. "
                             "Every field passes the data owner's agreement: see extensions.redactions.")
class Customer:
    row: strawberry.Private[models.CustomerRow]
    consents_active: strawberry.Private[frozenset[str]]

    def _show(self, info: Info, name: str, value: Any) -> Any:
        return info.context.guard.reveal(info.path.as_list(), MASTER_OWNER, f"Customer.{name}", value,
                                         self.consents_active)

    def _hidden(self, info: Info, name: str) -> bool:
        """True (and reported) when a derived field must not even be computed."""
        return info.context.guard.withheld(info.path.as_list(), MASTER_OWNER, f"Customer.{name}",
                                           self.consents_active)

    @strawberry.field(description="Customer ID, e.g. C-000001 (a pseudonym where the agreement says so).")
    def id(self, info: Info) -> strawberry.ID:
        return strawberry.ID(self._show(info, "id", self.row.id))

    @strawberry.field(description="Given name.")
    def given_name(self, info: Info) -> str | None:
        return self._show(info, "givenName", self.row.given_name)

    @strawberry.field(description="Family name.")
    def family_name(self, info: Info) -> str | None:
        return self._show(info, "familyName", self.row.family_name)

    @strawberry.field(description="Date of birth.")
    def birth_date(self, info: Info) -> date | None:
        return self._show(info, "birthDate", self.row.birth_date)

    @strawberry.field(description="Private e-mail address.")
    def email(self, info: Info) -> str | None:
        return self._show(info, "email", self.row.email)

    @strawberry.field(description="Phone number.")
    def phone(self, info: Info) -> str | None:
        return self._show(info, "phone", self.row.phone)

    @strawberry.field(description="Postal address.")
    def address(self, info: Info) -> Address | None:
        r = self.row
        if self._hidden(info, "address") or (r.street is None and r.city is None):
            return None
        return Address(street=r.street, postal_code=r.postal_code, city=r.city, country=r.country)

    @strawberry.field(description="Customer segment: retail, affluent, private or business.")
    def segment(self, info: Info) -> str | None:
        return self._show(info, "segment", self.row.segment)

    @strawberry.field(description="The consultant who advises this customer.")
    async def consultant(self, info: Info) -> Consultant | None:
        if self._hidden(info, "consultant"):
            return None
        row = await info.context.master_loaders.consultants.load(self.row.consultant_id)
        return None if row is None else Consultant(id=strawberry.ID(row.id), name=row.name, email=row.email)

    @strawberry.field(description="Consents given by the customer, including withdrawn ones.")
    async def consents(self, info: Info) -> list[Consent] | None:
        if self._hidden(info, "consents"):
            return None
        return [Consent.of(r) for r in await info.context.master_loaders.consents.load(self.row.id)]

    @strawberry.field(description="The customer's contracts at all partners, optionally filtered. Values are "
                                  "fetched live: one batched call per partner, partners in parallel, and only "
                                  "the fields the caller may see are asked for.")
    async def contracts(
        self, info: Info,
        partner: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only contracts at this partner, e.g. `bank`.")] = None,
        product_type: Annotated[ProductType | None, strawberry.argument(
            description="Only contracts of this product type.")] = None,
    ) -> list[Contract]:
        refs: list[ContractRef] = await info.context.master_loaders.contracts.load(self.row.id)
        chosen = choose_contracts(info.context.guard, refs, self.consents_active, wanted_by_type(info),
                                  partner, product_type.value if product_type is not None else None)
        # A contract with nothing visible asked for costs its partner nothing.
        answers = iter(await info.context.partners.load_all(contract_requests(chosen)))
        fetched = [next(answers) if wanted else None for _, wanted in chosen]
        configs = info.context.partner_configs
        holders = {pid: Partner.of(pid, configs.get(pid)) for pid in {ref.partner_id for ref, _ in chosen}}
        return [CONTRACT_CLASSES[TYPE_OF_PRODUCT[ref.product_type]](
                    ref=ref, wanted=wanted, consents=self.consents_active, fetched=answer,
                    partner=holders[ref.partner_id], product_type=ProductType[ref.product_type])
                for (ref, wanted), answer in zip(chosen, fetched, strict=True)]

    @strawberry.field(description="Assets and liabilities across partners, per currency, computed only from "
                                  "values the caller may see in full; `complete` says whether anything is "
                                  "missing.")
    async def portfolio(self, info: Info) -> PortfolioSummary | None:
        refs: list[ContractRef] = await info.context.master_loaders.contracts.load(self.row.id)
        guard, path = info.context.guard, info.path.as_list()
        counted, summed = portfolio_contracts(guard, path, refs, self.consents_active)
        terminated = terminated_contracts(guard, path, refs, self.consents_active,
                                          response_keys(info, "terminatedContracts", "PortfolioSummary"))
        answers = await info.context.partners.load_all(portfolio_requests(summed))
        # IDs are revealed (and a pseudonym reported) only where the query asks for them, at each response key.
        totals = portfolio_totals(guard, path, counted, summed, answers, self.consents_active,
                                  response_keys(info, "missingContracts", "PortfolioSummary"))
        return PortfolioSummary(
            assets=[Money(amount=a, currency=c) for c, a in totals.assets],
            liabilities=[Money(amount=a, currency=c) for c, a in totals.liabilities],
            complete=totals.complete, missing_contracts=[strawberry.ID(m) for m in totals.missing],
            terminated_contracts=[strawberry.ID(t) for t in terminated],
        )


def in_shown_order(guard: Guard, refs: list[ContractRef], consents: frozenset[str]) -> list[ContractRef]:
    """A customer's contracts by partner, then by the contract ID as the caller is shown it. Where the ID is not
    shown in full the order follows the caller's pseudonym of it: the partners' numbering (often the order in
    which contracts were made) must not let a caller line up pseudonymised contracts or customers."""
    def key(ref: ContractRef) -> tuple[str, str]:
        field = f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}"
        if guard.decide(ref.partner_id, field, consents).treatment.kind == "allow":
            return ref.partner_id, ref.contract_id
        return ref.partner_id, guard.pseudonym_of(ref.partner_id, ref.contract_id) or \
            hashlib.sha256(ref.contract_id.encode()).hexdigest()

    return sorted(refs, key=key)


# The rules below are shared by both execution paths (these resolvers and gateway/planner), so the two cannot
# disagree on which contracts are listed, what each partner is asked for, or what a total includes.

Request = tuple[str, str, frozenset[str]]  # (partner, contract, joint fields), as PartnerLoaders.load_all takes


def listed(guard: Guard, ref: ContractRef, consents: frozenset[str]) -> bool:
    """Whether the caller may learn that this contract exists. An unlisted contract leaves no trace: no
    entry, no redaction report, no place in the portfolio, as a customer one may not see."""
    field = f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}"
    return not guard.decide(ref.partner_id, field, consents).redacted


def choose_contracts(guard: Guard, refs: list[ContractRef], consents: frozenset[str],
                     selected: dict[str, frozenset[str]], partner: str | None,
                     product_type: str | None) -> list[tuple[ContractRef, frozenset[str]]]:
    """The contracts listed to the caller (after the `partner`/`productType` filters), each with the partner
    fields to fetch for it: those `selected` for its type that the caller may see in some form."""
    chosen: list[tuple[ContractRef, frozenset[str]]] = []
    # The guard's answers depend on (partner, contract type) only, here: worked out once per pair.
    fetched: dict[tuple[str, str], frozenset[str] | None] = {}
    for ref in in_shown_order(guard, refs, consents):
        if partner is not None and ref.partner_id != partner:
            continue
        if product_type is not None and ref.product_type != product_type:
            continue
        pair = (ref.partner_id, ref.product_type)
        if pair not in fetched:
            fetched[pair] = None
            if listed(guard, ref, consents):
                type_name = TYPE_OF_PRODUCT[ref.product_type]
                visible = guard.visible(ref.partner_id, (f"{type_name}.{f}" for f in selected[type_name]),
                                        consents)
                fetched[pair] = frozenset(name.split(".", 1)[1] for name in visible)
        wanted = fetched[pair]
        if wanted is not None:
            chosen.append((ref, wanted))
    return chosen


def contract_requests(chosen: list[tuple[ContractRef, frozenset[str]]]) -> list[Request]:
    return [(ref.partner_id, ref.contract_id, wanted) for ref, wanted in chosen if wanted]


def _summed_field(ref: ContractRef) -> str:
    return (ASSET_FIELDS | LIABILITY_FIELDS)[TYPE_OF_PRODUCT[ref.product_type]]


def portfolio_contracts(guard: Guard, path: list[str | int], refs: list[ContractRef],
                        consents: frozenset[str]) -> tuple[list[ContractRef], list[ContractRef]]:
    """(counted, summed): the listed contracts that carry a value, and those whose value the caller sees in
    full (the others are reported at `path` and make the portfolio incomplete)."""
    fields = ASSET_FIELDS | LIABILITY_FIELDS
    # A terminated contract is no longer held: its last value is not part of what the customer has or owes.
    counted = [r for r in in_shown_order(guard, refs, consents)
               if TYPE_OF_PRODUCT[r.product_type] in fields and r.status != TERMINATED and listed(guard, r, consents)]
    summed = [r for r in counted if guard.in_full(
        path, r.partner_id, f"{TYPE_OF_PRODUCT[r.product_type]}.{_summed_field(r)}", consents)]
    return counted, summed


def terminated_contracts(guard: Guard, path: list[str | int], refs: list[ContractRef], consents: frozenset[str],
                         keys: Sequence[str]) -> list[str]:
    """The IDs, as the caller sees them, of the listed terminated contracts of the kinds the totals count,
    revealed at each response key of `terminatedContracts` (`keys`); only if the caller may see contract status:
    the list says which contracts are terminated, which is the status field's to share."""
    ended = [r for r in refs if r.status == TERMINATED and TYPE_OF_PRODUCT[r.product_type] in ASSET_FIELDS |
             LIABILITY_FIELDS and listed(guard, r, consents)]
    if not keys or not ended:
        return []
    status_hidden = [guard.withheld([*path, key], MASTER_OWNER, "Contract.status", consents) for key in keys]
    if any(status_hidden):
        return []
    shown: list[str] = []
    for ref in ended:
        for key in keys:
            shown_id = guard.reveal([*path, key], ref.partner_id, f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}",
                                    ref.contract_id, consents)
        shown.append(shown_id)
    return shown


def portfolio_requests(summed: list[ContractRef]) -> list[Request]:
    return [(r.partner_id, r.contract_id, frozenset({_summed_field(r)})) for r in summed]


@dataclass(frozen=True, slots=True)
class Totals:
    assets: list[tuple[str, Decimal]]  # (currency, amount), by currency
    liabilities: list[tuple[str, Decimal]]
    missing: list[str]  # contract IDs as the caller is shown them (empty when `missingContracts` is not asked)
    complete: bool


def portfolio_totals(guard: Guard, path: list[str | int], counted: list[ContractRef], summed: list[ContractRef],
                     answers: list[ContractValues | PartnerError], consents: frozenset[str],
                     missing_keys: Sequence[str] = ("missingContracts",)) -> Totals:
    """The totals; the IDs of contracts left out are revealed (and reported) at each response key under which
    `missingContracts` is asked for, and nowhere when it is not asked for."""
    assets: dict[str, Decimal] = defaultdict(Decimal)
    liabilities: dict[str, Decimal] = defaultdict(Decimal)
    missing: list[str] = []
    complete = True
    # Only contracts whose value may be summed and whose partner answered; the rest make it incomplete.
    values: dict[str, MoneyValue | None] = {
        r.contract_id: a.values.get(_summed_field(r))
        for r, a in zip(summed, answers, strict=True) if not isinstance(a, PartnerError)}
    for ref in counted:
        value = values.get(ref.contract_id)
        if ref.contract_id not in values:
            complete = False
            shown = [guard.reveal([*path, key], ref.partner_id, f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}",
                                  ref.contract_id, consents) for key in missing_keys]
            if shown:
                missing.append(shown[-1])
        elif value is not None:
            side = assets if TYPE_OF_PRODUCT[ref.product_type] in ASSET_FIELDS else liabilities
            side[value.currency] += value.amount
    return Totals(sorted(assets.items()), sorted(liabilities.items()), missing, complete)


def shown_customer(guard: Guard, row: models.CustomerRow, consents: frozenset[str]) -> Customer | None:
    """The customer as this caller may meet them; None when the agreement hides even their ID (then the
    caller cannot tell them from a customer that does not exist)."""
    if guard.decide(MASTER_OWNER, "Customer.id", consents).redacted:
        return None
    return Customer(row=row, consents_active=consents)

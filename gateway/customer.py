"""A customer as the caller may see them: master fields through the guard, contracts fetched from partners
in one batch per partner, and the portfolio computed only from what the caller may see in full."""

from __future__ import annotations

import hashlib
from collections import defaultdict
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
from privacy.guard import Guard
from resolvers import models
from resolvers.errors import PartnerError
from resolvers.joint import CONTRACT_ID, MASTER_OWNER, TYPE_OF_PRODUCT
from resolvers.types import ContractRef
from resolvers.types import Money as MoneyValue

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
    row: strawberry.Private[models.Customer]
    consents_active: strawberry.Private[frozenset[str]]

    def _show(self, info: Info, name: str, value: Any) -> Any:
        return info.context.guard.reveal(info.path.as_list(), MASTER_OWNER, f"Customer.{name}", value,
                                         self.consents_active)

    def _hidden(self, info: Info, name: str) -> bool:
        """True (and reported) when a derived field must not even be computed."""
        return info.context.guard.account(info.path.as_list(), MASTER_OWNER, f"Customer.{name}",
                                          self.consents_active).redacted

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

    def _listed(self, guard: Guard, ref: ContractRef) -> bool:
        """Whether the caller may learn that this contract exists. An unlisted contract leaves no trace: no
        entry, no redaction report, no place in the portfolio, as a customer one may not see."""
        field = f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}"
        return not guard.decide(ref.partner_id, field, self.consents_active).redacted

    @strawberry.field(description="The customer's contracts at all partners, optionally filtered. Values are "
                                  "fetched live: one batched call per partner, partners in parallel, and only "
                                  "the fields the caller may see are asked for.")
    async def contracts(
        self, info: Info,
        partner: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only contracts at this partner, e.g. `bank`.")] = None,
        product_type: Annotated[ProductType | None, strawberry.argument(  # type: ignore[valid-type]
            description="Only contracts of this product type.")] = None,
    ) -> list[Contract]:
        refs = in_shown_order(info.context.guard, await info.context.master_loaders.contracts.load(self.row.id),
                              self.consents_active)
        selected, guard, partners = wanted_by_type(info), info.context.guard, info.context.partners
        chosen: list[tuple[ContractRef, frozenset[str]]] = []
        for ref in refs:
            if partner is not None and ref.partner_id != partner:
                continue
            if product_type is not None and ref.product_type != product_type.value:
                continue
            if not self._listed(guard, ref):
                continue
            type_name = TYPE_OF_PRODUCT[ref.product_type]
            visible = guard.visible(ref.partner_id, (f"{type_name}.{f}" for f in selected[type_name]),
                                    self.consents_active)
            chosen.append((ref, frozenset(name.split(".", 1)[1] for name in visible)))

        # A contract with nothing visible asked for costs its partner nothing.
        asked = [(ref.partner_id, ref.contract_id, wanted) for ref, wanted in chosen if wanted]
        answers = iter(await partners.load_all(asked))
        fetched = [next(answers) if wanted else None for _, wanted in chosen]
        configs = info.context.partner_configs
        holders = {pid: Partner.of(pid, configs.get(pid)) for pid in {ref.partner_id for ref, _ in chosen}}
        return [CONTRACT_CLASSES[TYPE_OF_PRODUCT[ref.product_type]](  # type: ignore[call-arg]
                    ref=ref, wanted=wanted, consents=self.consents_active, fetched=answer,
                    partner=holders[ref.partner_id], product_type=ProductType[ref.product_type])
                for (ref, wanted), answer in zip(chosen, fetched, strict=True)]

    @strawberry.field(description="Assets and liabilities across partners, per currency, computed only from "
                                  "values the caller may see in full; `complete` says whether anything is "
                                  "missing.")
    async def portfolio(self, info: Info) -> PortfolioSummary | None:
        refs = in_shown_order(info.context.guard, await info.context.master_loaders.contracts.load(self.row.id),
                              self.consents_active)
        fields = ASSET_FIELDS | LIABILITY_FIELDS
        guard, path = info.context.guard, info.path.as_list()

        def field_of(ref: ContractRef) -> str:
            return fields[TYPE_OF_PRODUCT[ref.product_type]]

        def allowed(ref: ContractRef) -> bool:
            type_name, name = TYPE_OF_PRODUCT[ref.product_type], field_of(ref)
            decision = guard.decide(ref.partner_id, f"{type_name}.{name}", self.consents_active)
            if decision.treatment.kind != "allow":
                # A generalised or hidden value is left out rather than summed: a total must not let the
                # caller recover (by subtraction across queries) what the agreement hides.
                guard.note(path, ref.partner_id, f"{type_name}.{name}", decision)
                return False
            return True

        assets: dict[str, Decimal] = defaultdict(Decimal)
        liabilities: dict[str, Decimal] = defaultdict(Decimal)
        missing: list[strawberry.ID] = []
        incomplete = False
        listed = [r for r in refs if TYPE_OF_PRODUCT[r.product_type] in fields and self._listed(guard, r)]
        # A terminated contract is no longer held: its last value is not part of what the customer has or owes.
        counted = [r for r in listed if r.status != TERMINATED]
        terminated = self._terminated(info, [r for r in listed if r.status == TERMINATED])
        summed = [r for r in counted if allowed(r)]
        answers = await info.context.partners.load_all(
            [(r.partner_id, r.contract_id, frozenset({field_of(r)})) for r in summed])
        # Only contracts whose value may be summed and whose partner answered; the rest make it incomplete.
        values: dict[str, MoneyValue | None] = {
            r.contract_id: a.values.get(field_of(r))
            for r, a in zip(summed, answers, strict=True) if not isinstance(a, PartnerError)}
        # IDs are revealed (and a pseudonym reported) only where the query asks for them, at each response key.
        missing_keys = response_keys(info, "missingContracts", "PortfolioSummary")
        for ref in counted:
            value = values.get(ref.contract_id)
            if ref.contract_id not in values:
                incomplete = True
                for key in missing_keys:  # not selected: nothing revealed, so nothing to list or report
                    shown_id = guard.reveal([*path, key], ref.partner_id,
                                            f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}", ref.contract_id,
                                            self.consents_active)
                if missing_keys:
                    missing.append(strawberry.ID(shown_id))
            elif value is not None:
                side = assets if TYPE_OF_PRODUCT[ref.product_type] in ASSET_FIELDS else liabilities
                side[value.currency] += value.amount
        return PortfolioSummary(
            assets=[Money(amount=a, currency=c) for c, a in sorted(assets.items())],
            liabilities=[Money(amount=a, currency=c) for c, a in sorted(liabilities.items())],
            complete=not incomplete, missing_contracts=missing, terminated_contracts=terminated,
        )

    def _terminated(self, info: Info, refs: list[ContractRef]) -> list[strawberry.ID]:
        """The terminated contracts' IDs as the caller sees them, only if it may see contract status: the list
        says which contracts are terminated, which is the status field's to share."""
        guard, keys = info.context.guard, response_keys(info, "terminatedContracts", "PortfolioSummary")
        if not keys or not refs:
            return []
        status = guard.decide(MASTER_OWNER, "Contract.status", self.consents_active)
        if status.redacted:
            for key in keys:
                guard.note([*info.path.as_list(), key], MASTER_OWNER, "Contract.status", status)
            return []
        shown: list[strawberry.ID] = []
        for ref in refs:
            for key in keys:
                shown_id = guard.reveal([*info.path.as_list(), key], ref.partner_id,
                                        f"{TYPE_OF_PRODUCT[ref.product_type]}.{CONTRACT_ID}", ref.contract_id,
                                        self.consents_active)
            shown.append(strawberry.ID(shown_id))
        return shown


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


def shown_customer(guard: Guard, row: models.Customer, consents: frozenset[str]) -> Customer | None:
    """The customer as this caller may meet them; None when the agreement hides even their ID (then the
    caller cannot tell them from a customer that does not exist)."""
    if guard.decide(MASTER_OWNER, "Customer.id", consents).redacted:
        return None
    return Customer(row=row, consents_active=consents)  # type: ignore[call-arg]

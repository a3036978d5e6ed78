"""`manage.py revenue --from 2026-11-01 --to 2026-11-30 [--csv]`: the staff revenue page's figures."""

import csv

from django.core.management.base import BaseCommand, CommandError

from apps.revenue.reports import RangeForm, revenue_report

TEXT_COLUMNS = ("Day", "Realm", "Cur", "Code")
DAY_COLUMNS = ("day", "realm", "currency", "commission", "markup", "house_took", "house_paid", "house_pnl")


class Command(BaseCommand):
    help = (
        "Commission, partner markup and the house's result per day and realm, totals and top partners "
        "(default: the last 30 days). --csv writes the table of days as CSV, then the totals and the partners."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", default="", metavar="YYYY-MM-DD", help="First day (included).")
        parser.add_argument("--to", dest="date_to", default="", metavar="YYYY-MM-DD", help="Last day (included).")
        parser.add_argument("--csv", action="store_true", help="CSV on standard output instead of a table.")

    def handle(self, *args, date_from="", date_to="", csv=False, **options):
        form = RangeForm({"date_from": date_from, "date_to": date_to})
        if not form.is_valid():
            names = {"date_from": "--from", "date_to": "--to"}
            problems = [f"{names.get(field, '')} {' '.join(errors)}".strip() for field, errors in form.errors.items()]
            raise CommandError("; ".join(problems) + " Dates are written YYYY-MM-DD.")
        report = revenue_report(form.cleaned_data["date_from"], form.cleaned_data["date_to"])
        if csv:
            self._csv(report)
        else:
            self._table(report)

    def _day_rows(self, report):
        return [
            (str(d.day), d.realm, d.currency, d.commission, d.markup, d.house_won, d.house_paid, d.house_pnl)
            for d in report.days
        ]

    def _csv(self, report):
        out = csv.writer(self.stdout, lineterminator="\n")
        out.writerow(("section", *DAY_COLUMNS))
        for row in self._day_rows(report):
            out.writerow(("day", *row))
        for t in report.totals:
            out.writerow(("total", "", t.realm, t.currency, t.commission, t.markup, "", "", t.house_pnl))
        out.writerow(())
        out.writerow(("section", "partner", "realm", "currency", "signups", "markup_earned"))
        for p in report.partners:
            out.writerow(("partner", p.code, p.realm, p.currency, p.signups, p.earned))

    def _table(self, report):
        self.stdout.write(f"Revenue from {report.date_from} to {report.date_to} (UTC days, both included)\n")
        self._print(
            ("Day", "Realm", "Cur", "Commission", "Markup", "House took", "House paid", "House P&L"),
            self._day_rows(report),
            empty="Nothing was earned or paid in these days.",
        )
        self.stdout.write("\nTotals")
        self._print(
            ("Realm", "Cur", "Commission", "Markup", "House P&L"),
            [(t.realm, t.currency, t.commission, t.markup, t.house_pnl) for t in report.totals],
            empty="None.",
        )
        self.stdout.write("\nTop partners")
        self._print(
            ("Code", "Realm", "Cur", "Sign-ups", "Markup earned"),
            [(p.code, p.realm, p.currency, p.signups, p.earned) for p in report.partners],
            empty="No partner earned markup in these days.",
        )

    def _print(self, header, rows, *, empty: str):
        """A plain table: text columns to the left, figures to the right."""
        if not rows:
            self.stdout.write(empty)
            return
        texts = sum(1 for name in header if name in TEXT_COLUMNS)
        cells = [[str(v) for v in header], *[[str(v) for v in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        for n, row in enumerate(cells):
            line = "  ".join(
                v.ljust(w) if i < texts else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
            self.stdout.write(line.rstrip())
            if n == 0:
                self.stdout.write("  ".join("-" * w for w in widths))

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an email address."""

    username = None
    email = models.EmailField("email address", unique=True)

    # Settings > Profile: how the trader is greeted and the time zone every date is shown in.
    display_name = models.CharField(max_length=60, blank=True)
    # Empty until the trader chooses one: the site's TIME_ZONE.
    time_zone = models.CharField(max_length=64, blank=True)
    # Settings > Trading: what the trade form starts with, and whether a purchase asks first.
    default_market = models.CharField(max_length=32, blank=True)
    default_stake = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    default_duration = models.PositiveSmallIntegerField(null=True, blank=True)
    default_duration_unit = models.CharField(max_length=1, blank=True)
    confirm_purchases = models.BooleanField(default=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


# The longest a trader can pause their own trading in one go (a later end may extend it).
SELF_EXCLUSION_CHOICES = [
    ("1d", "1 day"),
    ("7d", "1 week"),
    ("30d", "1 month"),
    ("90d", "3 months"),
    ("180d", "6 months"),
]


class ResponsibleTrading(models.Model):
    """A trader's own limits across all their trading accounts, and their self-exclusion.

    Limits are amounts summed over every account (each in its own currency)
    for the trader's day in their own time zone; empty means no limit. A
    self-exclusion refuses every manual and bot trade until it ends, and can
    only ever be extended.
    """

    user = models.OneToOneField("users.User", on_delete=models.CASCADE, related_name="responsible_trading")
    daily_loss_limit = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    daily_stake_limit = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    excluded_from = models.DateTimeField(null=True, blank=True)
    excluded_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Responsible trading of {self.user}"

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Gives every new user their demo trading account in the sign-up transaction."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            from apps.accounts.services import account_open_demo

            account_open_demo(user=user)
        return user

"""A refused form's problems in words, each next to the field it names.

The console validates with the same code as the JSON API (pydantic bodies, api/service rules), whose
reasons are written for developers in English; here each known reason has the words a member of
staff reads, in their language. A reason without words of its own is shown as the API gives it.
"""

import re

from pydantic import ValidationError

from api.errors import ApiError
from web.i18n import Words


def N_(text: str) -> str:  # noqa: N802 (gettext's name for words marked, not translated, here)
    """Marks English words that are translated later (tests/unit/test_console_words.py finds them)."""
    return text


# pydantic's error types, and this project's own (api/schemas.py), in words.
BY_TYPE = {
    "missing": N_("This is required."),
    "string_too_short": N_("This is required."),
    "string_type": N_("This is required."),
    "enum": N_("Choose one of the options."),
    "literal_error": N_("Choose one of the options."),
    "bool_parsing": N_("Choose one of the options."),
    "string_too_long": N_("Too long: at most {max_length} characters."),
    "value_error": N_("Not an email address."),
    "line_break": N_("One line only, without line breaks."),
    "control_character": N_("Holds a control character, which text may not hold."),
    "bidi_control": N_("Holds a character that would change the direction of the text around it."),
    "invisible": N_("Holds nothing visible."),
    "markup": N_("A name holds no < or >."),
    "too_short": N_("Choose at least one."),
}
# A pattern the field's value must match, said as the field's rule.
BY_PATTERN = {
    "civil_id": N_("A civil ID is 6 to 12 digits."),
    "phone": N_("A phone number is 7 to 15 digits, with + in front if you like."),
    "code": N_("Upper-case letters, digits and _, starting with a letter; at most 40."),
    "department": N_("Upper-case letters, digits and _, starting with a letter; at most 40."),
}
# The reasons of api/service and domain rules, in words.
BY_REASON = {
    "a complaint needs the submitter's civil ID (or a channel that verifies it)":
        N_("A complaint needs the submitter's civil ID."),
    "the policy does not accept anonymous reports":
        N_("The policy does not accept anonymous reports: enter the submitter's civil ID."),
    "already used for a different submission": N_("This form was already sent with other values: open a new form."),
    "not an active department of the directory": N_("Not an active department of the directory."),
    "a department key names its department": N_("A department key names its department."),
    "only a department key names a department": N_("Only a department key names a department."),
    "a channel key names the channels it may submit through, and only a channel key does":
        N_("A channel key names the channels it may submit through, and only a channel key does."),
    "1 to 120 characters without spaces": N_("1 to 120 characters without spaces."),
    "the person's name is required": N_("The person's name is required."),
    "a department officer names their department, and only they do":
        N_("A department officer names their department, and only they do."),
    "a channel is a system, not a person: give it an API key":
        N_("A channel is a system, not a person: give it an API key."),
    "another account has this login": N_("Another account has this login."),
    "at least 12 characters": N_("At least 12 characters."),
    "not the current password": N_("Not the current password."),
    "the same as the current password": N_("Choose a password other than the current one."),
    "this login is locked for a while after too many wrong passwords":
        N_("This login is locked for a while after too many wrong passwords. Try again later, or ask an "
           "administrator."),
}


def field_name(location: tuple) -> str:
    """pydantic's location of a problem as the dotted field name the API's errors use (`submitter.civil_id`)."""
    return ".".join(str(part) for part in location if not isinstance(part, int)) or "form"


def _words_for_problem(words: Words, field: str, problem: dict) -> str:
    kind = problem["type"]
    if kind == "string_pattern_mismatch":
        rule = BY_PATTERN.get(field.rsplit(".", 1)[-1])
        return words._(rule) if rule else problem["msg"]
    if kind in BY_TYPE:
        return words._(BY_TYPE[kind], **{k: v for k, v in (problem.get("ctx") or {}).items()
                                          if k == "max_length"})
    return problem["msg"]


def problems_of_validation(words: Words, error: ValidationError) -> dict[str, str]:
    """Each bad field of a body, with what is wrong in words (the first problem of a field)."""
    problems: dict[str, str] = {}
    for problem in error.errors():
        field = field_name(tuple(problem["loc"]))
        problems.setdefault(field, _words_for_problem(words, field, problem))
    return problems


def reason_in_words(words: Words, reason: str) -> str:
    known = BY_REASON.get(reason)
    return words._(known) if known else reason


def problems_of_api_error(words: Words, error: ApiError, *, default_field: str = "form") -> dict[str, str]:
    """Each field an API error names, with its reason in words; an error naming none is the form's."""
    if not error.fields:
        return {default_field: reason_in_words(words, error.message)}
    problems: dict[str, str] = {}
    for problem in error.fields:
        problems.setdefault(problem.field, reason_in_words(words, problem.reason))
    return problems


STATUS_NAMES = {
    "received": N_("received"),
    "with_department": N_("with the department"),
    "awaiting_submitter": N_("waiting for the submitter"),
    "replied": N_("replied"),
    "responded": N_("answered"),
    "closed": N_("closed"),
    "rejected": N_("rejected"),
}
# The workflow's refusals (domain/lifecycle.py check_action), which name the case's status.
FINAL = re.compile(r"the case is (\w+); no further action is possible")
NOT_FROM = re.compile(r"cannot \w+ a case that is (\w+) \(only when .*\)")


def refusal_in_words(words: Words, refused: ApiError) -> str:
    """Why an action on a case was refused (a 404, the workflow's 409, the engine's 503), in words."""
    reason = refused.message
    if refused.status == 404:
        return words._("No case has this reference, or it is not yours to see.")
    if refused.code == "case_closed":
        return words._("The case is closed; no further action is possible.")
    if refused.status == 503:
        return words._("The case engine did not answer in time. Send the form again: nothing is done twice.")
    if refused.status == 422 and refused.fields:
        return reason_in_words(words, refused.fields[0].reason)
    if match := FINAL.fullmatch(reason):
        return words._("The case is {status}; no further action is possible.",
                       status=words._(STATUS_NAMES.get(match[1], match[1])))
    if match := NOT_FROM.fullmatch(reason):
        return words._("Not possible while the case is {status}.", status=words._(STATUS_NAMES.get(match[1], match[1])))
    if reason.startswith("the role ") and " may not " in reason:
        return words._("Your role may not take this action.")
    return reason_in_words(words, reason)

"""The policy's words keep the values already written in histories, timelines and outboxes."""

import pytest

from domain.lifecycle import Action
from domain.steps import Addressee, CloseReason, Recipient, Step


def test_a_department_recipient_reads_back_from_the_address_old_histories_carry():
    recipient = Recipient.parse("department:CIVIL_STATUS")
    assert recipient == Recipient(Addressee.DEPARTMENT, "CIVIL_STATUS")
    assert recipient.address == "department:CIVIL_STATUS"


@pytest.mark.parametrize("address", ["submitter", "director_general", "customer_service"])
def test_the_other_recipients_are_their_names(address):
    recipient = Recipient.parse(address)
    assert recipient.department is None and recipient.address == address


def test_a_department_code_of_forty_characters_keeps_its_whole_code():
    code = "A" * 40
    assert Recipient.parse(Recipient.of_department(code).address).department == code


@pytest.mark.parametrize("address", ["department:", "nobody", "Department:HR"])
def test_text_that_names_no_recipient_is_refused(address):
    with pytest.raises(ValueError):
        Recipient.parse(address)


def test_a_department_is_named_only_for_a_message_to_one():
    with pytest.raises(ValueError):
        Recipient(Addressee.SUBMITTER, "HR")


def test_steps_and_actions_do_not_share_a_value():
    assert not {str(step) for step in Step} & {str(action) for action in Action}


def test_the_values_are_those_already_written():
    assert [str(step) for step in Step] == [
        "received", "routed", "route_confirmed", "department_reminded", "escalated", "breached",
        "director_general_reminded", "closed", "refused", "delivery_failed",
    ]
    assert {str(reason) for reason in CloseReason} == {"accepted", "archived", "no_response", "rejected"}

//! Every BPMN MIWG reference model goes through `engine::parse` without a panic, and each file's
//! accept / refuse outcome is pinned, so a change in what the engine accepts is noticed.
//!
//! The models are the reference files of the BPMN MIWG test suite
//! (bpmn-miwg/bpmn-miwg-test-suite), CC BY 3.0, copied into `tests/fixtures/miwg/` (see its
//! `README.md` for the source and the licence).
//! `docs/bpmn-support.md` lists the same outcome with the full reasons.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use engine::ParseError;

use crate::harness::Env;

enum Outcome {
    Accepted,
    /// The problems, as `type 'id'` (or `type` when the problem names no element), in order.
    Refused(&'static [&'static str]),
}
use Outcome::{Accepted, Refused};

const EXPECTED: &[(&str, Outcome)] = &[
    ("A.1.0.bpmn", Refused(&["definitions"])),
    ("A.2.0.bpmn", Refused(&["definitions"])),
    ("A.2.1.bpmn", Refused(&["definitions"])),
    ("A.3.0.bpmn", Refused(&["definitions"])),
    ("A.4.0.bpmn", Refused(&["definitions"])),
    ("A.4.1.bpmn", Refused(&["definitions"])),
    ("B.1.0.bpmn", Refused(&["definitions"])),
    ("B.2.0.bpmn", Refused(&["definitions"])),
    ("C.1.0.bpmn", Refused(&["serviceTask 'archiveInvoice'"])),
    (
        "C.1.1.bpmn",
        Refused(&[
            "serviceTask 'archiveInvoice'",
            "sequenceFlow 'invoiceApproved'",
            "sequenceFlow 'invoiceNotApproved'",
            "sequenceFlow 'reviewSuccessful'",
            "sequenceFlow 'reviewNotSuccessful'",
        ]),
    ),
    ("C.2.0.bpmn", Refused(&["definitions"])),
    (
        "C.3.0.bpmn",
        Refused(&[
            "sequenceFlow '_be893987-caec-4605-b078-bd96b7cd6c12'",
            "subProcess '_cd6f230f-13c3-4027-aa3e-57de601a1ab2'",
        ]),
    ),
    (
        "C.4.0.bpmn",
        Refused(&[
            "intermediateCatchEvent '_fe77c2f2-278f-4752-9d03-aa0c8a12af1e'",
            "intermediateCatchEvent '_db9147a9-7fbc-4657-a506-15e777f2cfd9'",
            "intermediateCatchEvent '_74e2cc7b-99ca-426b-ad53-ad70a56506aa'",
            "serviceTask '_9db2d136-aa33-4de2-be76-554e7843363d'",
            "endEvent '_c82dd8eb-ce54-4aa7-b8c4-b8d3e8fd654e'",
            "manualTask '_788443d9-65f0-43a4-96a8-63e8d6f380a7'",
            "endEvent '_efbd0983-76cd-4a4c-acf3-6dde71d7c760'",
            "endEvent '_5ee09fe4-f38f-454d-b6e4-1c3703a6a239'",
        ]),
    ),
    (
        "C.5.0.bpmn",
        Refused(&[
            "endEvent '_8055ae64-cafd-4fd0-be36-2216e3b02e37'",
            "endEvent '_1cf552d4-5152-4595-9218-84f31533bc70'",
        ]),
    ),
    (
        "C.6.0.bpmn",
        Refused(&[
            "intermediateCatchEvent '_15fef309-6718-4352-9b71-f757bcd8c023'",
            "intermediateCatchEvent '_e5c69e92-6f98-47c8-bc22-b75d38620f95'",
            "intermediateCatchEvent '_87baeef0-f32e-4a93-b802-fdd588aaf729'",
            "intermediateThrowEvent '_6a5cdbbf-2618-496e-b728-955dc215ef9d'",
            "sendTask '_e839800f-ad4f-4bcc-aaf2-d38fe4a32bcd'",
            "startEvent '_44e3f1fa-42cd-40b7-9980-a51ac49d5fa3'",
            "intermediateThrowEvent '_99bf4db9-3616-4ed1-a0f8-b8175c3fd46f'",
            "intermediateThrowEvent '_e4b9fa74-efd8-409f-a2e4-ad917df767b4'",
            "startEvent '_8af17ed4-6e13-463b-8333-d397b3002c65'",
            "serviceTask '_3a2f133c-3ae1-4e21-94b5-6e8cf51acd74'",
            "serviceTask '_b595ec43-0769-4864-8f2e-403c405c8217'",
            "serviceTask '_ea5cc55d-bfce-49c6-8a1a-a8a41a85da12'",
            "serviceTask '_0198160d-b56c-4919-9920-db5f32d16b3f'",
            "boundaryEvent '_b25ecc7c-4eff-4a70-96f2-6b2f94cf19b1'",
            "boundaryEvent '_fe3f9094-097b-416d-adeb-4b7e7e753f3c'",
            "sendTask '_22612d45-65ca-4a74-a6eb-53af7ebcb5ff'",
            "sendTask '_c8fa5253-dde9-471e-b933-58b00e8f374c'",
            "serviceTask '_614d6469-2bb8-4ad6-a20a-db5db6321c6b'",
            "sendTask '_9cc2ac34-f12c-49e0-b37c-144e5a84fd92'",
            "serviceTask '_8afc49f0-42c2-4da9-8e79-e08dbe349776'",
            "sendTask '_de7e721e-a073-4857-b8c3-c6ae886dbb46'",
            "sendTask '_2d6586cf-81fc-4e2a-83ec-6cfff5b34bb0'",
            "boundaryEvent '_32c4138c-74ae-484a-a7e5-0609370d7080'",
            "process '_898aa942-9a96-4405-ae71-22b5e2e3d235'",
            "eventBasedGateway '_7ab6dbdf-f55b-4be6-bb41-d99793135c1d'",
            "subProcess '_e880bf53-84ca-4776-aa75-d1bf53172240'",
        ]),
    ),
    (
        "C.7.0.bpmn",
        Refused(&[
            "serviceTask '_64eabfe9-6947-43eb-ac45-8d331745f86c'",
            "businessRuleTask '_eae674ce-4d6e-48ac-819c-c79e0868e40d'",
            "serviceTask '_a36ddf2f-23c1-46c5-86d4-bd2a0eb42535'",
        ]),
    ),
    ("C.8.0.bpmn", Refused(&["definitions"])),
    (
        "C.8.1.bpmn",
        Refused(&[
            "serviceTask '_2b960d84-feb1-46a9-a1a1-c300dd996b99'",
            "businessRuleTask '_1a818a94-ba6f-413b-a7e8-6f8fd2a11e32'",
            "sendTask '_9ed61a6a-7cc1-4ed1-86d8-03482b0983c9'",
            "sendTask '_93ec9873-edf1-4549-b052-961994ec8234'",
            "sendTask '_a97c1a48-faba-447b-bfa6-7aa81a6fe0a0'",
            "sendTask '_02232e32-c3d2-473c-a15d-9c5dca00eadc'",
            "serviceTask '_4b72053b-8ebb-4ae6-99c6-7c93cf1c1d1b'",
            "serviceTask '_5e16a4e0-0f23-482a-be47-d3edbc5741ba'",
            "sequenceFlow '_0a1c4f20-509f-4aeb-baf9-acc762f4fdf9'",
        ]),
    ),
    (
        "C.9.0.bpmn",
        Refused(&[
            "endEvent 'EndMessageEvent_Timeout'",
            "serviceTask 'ServiceTask_CancelApplication'",
            "endEvent 'EndMessageEvent_InformCustomer'",
            "endEvent 'EndMessageEvent_InformOperations'",
            "serviceTask 'SendTask_SendPolicy'",
            "serviceTask 'ServiceTask_DeliverPolicy'",
            "serviceTask 'ServiceTask_RejectPolicy'",
            "serviceTask 'SendTask_SendRejection'",
            "sendTask 'SendTask_ReportFraud'",
            "businessRuleTask 'BusinessRuleTask_CheckApplicationAutomatically'",
            "serviceTask 'ServiceTask_GetCreditScore'",
            "sequenceFlow 'SequenceFlow_Yellow'",
        ]),
    ),
    ("C.9.1.bpmn", Accepted),
    (
        "C.9.2.bpmn",
        Refused(&[
            "callActivity 'CallActivity_RequestDocument'",
            "sendTask 'SendTask_NotifyCustomerDelay'",
            "sequenceFlow 'SequenceFlow_Yes'",
        ]),
    ),
];

fn miwg_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/miwg")
}

#[test]
fn every_miwg_reference_model_parses_without_panic_to_the_expected_outcome() {
    let mut files: Vec<String> = std::fs::read_dir(miwg_dir())
        .unwrap_or_else(|error| panic!("{}: {error}", miwg_dir().display()))
        .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".bpmn"))
        .collect();
    files.sort();
    let listed: Vec<&str> = EXPECTED.iter().map(|(file, _)| *file).collect();
    assert_eq!(files, listed, "the expected table must list exactly the .bpmn files of the suite");

    let env = Env::new();
    let mut differences = Vec::new();
    for (file, expected) in EXPECTED {
        let xml = std::fs::read_to_string(miwg_dir().join(file)).unwrap_or_else(|error| panic!("{file}: {error}"));
        let outcome = match catch_unwind(AssertUnwindSafe(|| env.parse(&xml))) {
            Err(_) => {
                differences.push(format!("{file}: the parser panicked"));
                continue;
            }
            Ok(outcome) => outcome,
        };
        let actual: Option<Vec<String>> = match outcome {
            Ok(_) => None,
            Err(ParseError::Xml(message)) => Some(vec![format!("xml: {message}")]),
            Err(ParseError::Invalid(problems)) => Some(
                problems
                    .iter()
                    .map(|problem| match &problem.element_id {
                        Some(id) => format!("{} '{id}'", problem.element_type),
                        None => problem.element_type.clone(),
                    })
                    .collect(),
            ),
        };
        let expected: Option<Vec<String>> = match expected {
            Accepted => None,
            Refused(problems) => Some(problems.iter().map(|problem| problem.to_string()).collect()),
        };
        if actual != expected {
            differences.push(format!("{file}: expected {expected:?}, got {actual:?}"));
        }
    }
    assert!(differences.is_empty(), "MIWG outcomes changed:\n{}", differences.join("\n"));
}

#[test]
fn files_without_executable_processes_are_refused_for_that_reason_only() {
    let env = Env::new();
    for (file, expected) in EXPECTED {
        if let Refused(["definitions"]) = expected {
            let xml = std::fs::read_to_string(miwg_dir().join(file)).unwrap_or_else(|error| panic!("{file}: {error}"));
            match env.parse(&xml) {
                Err(ParseError::Invalid(problems)) => assert_eq!(
                    problems[0].message,
                    "the file has no executable process (every process is marked isExecutable=\"false\")",
                    "{file}"
                ),
                other => panic!("{file}: {other:?}"),
            }
        }
    }
}

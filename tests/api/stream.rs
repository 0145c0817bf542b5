//! ScoreStream: bulk rescoring of a million leads in one stream, with bad
//! leads and bad messages answered in place without ending the stream.

use std::time::Duration;

use leadscore::serve::proto::{Lead, ScoreRequest};
use tokio_stream::StreamExt;

use crate::helpers::{lead, spawn_app, MODEL};

const MESSAGES: usize = 200;
const PER_MESSAGE: usize = 5_000;

fn message(m: usize) -> ScoreRequest {
    let leads = (0..PER_MESSAGE)
        .map(|i| {
            let n = m * PER_MESSAGE + i;
            // Every 100,000th lead is malformed (NaN).
            let visits = if n % 100_000 == 99_999 {
                f64::NAN
            } else {
                (n % 25) as f64
            };
            Lead {
                lead_id: n.to_string(),
                values: vec![
                    (n % 12) as f64,
                    visits,
                    (n % 9) as f64,
                    (n % 2) as f64,
                    (n % 5) as f64,
                    (n % 4) as f64,
                ],
                ..Default::default()
            }
        })
        .collect();
    ScoreRequest {
        leads,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_leads_stream_through_with_errors_in_place() {
    let app = spawn_app().await;
    // A bad message in the middle: an unknown model.
    let requests = tokio_stream::iter(0..=MESSAGES).map(|m| {
        if m == MESSAGES / 2 {
            ScoreRequest {
                model: "no_such_model".into(),
                leads: vec![lead("x", 1.0, true, "1-10")],
                ..Default::default()
            }
        } else {
            message(if m > MESSAGES / 2 { m - 1 } else { m })
        }
    });
    let mut responses = app
        .client()
        .max_decoding_message_size(64 << 20)
        .score_stream(requests)
        .await
        .expect("ScoreStream")
        .into_inner();

    let (mut answers, mut scored, mut lead_errors, mut message_errors) = (0, 0usize, Vec::new(), 0);
    let mut expected_id = 0usize;
    while let Some(answer) = tokio::time::timeout(Duration::from_secs(60), responses.next())
        .await
        .expect("an answer within 60 s")
    {
        let answer = answer.expect("the stream stays up");
        answers += 1;
        if let Some(error) = answer.error {
            assert_eq!(error.code, tonic::Code::NotFound as i32);
            assert!(error.message.contains("no_such_model"), "{}", error.message);
            message_errors += 1;
            continue;
        }
        assert_eq!(answer.model, MODEL);
        assert_eq!(answer.scores.len(), PER_MESSAGE);
        for s in &answer.scores {
            assert_eq!(
                s.lead_id,
                expected_id.to_string(),
                "answers keep request order"
            );
            expected_id += 1;
            match &s.error {
                Some(e) => {
                    assert_eq!(e.field, "values[1]");
                    lead_errors.push(s.lead_id.clone());
                }
                None => {
                    assert!(s.probability > 0.0 && s.probability < 1.0);
                    scored += 1;
                }
            }
        }
    }
    assert_eq!(answers, MESSAGES + 1);
    assert_eq!(message_errors, 1);
    assert_eq!(scored + lead_errors.len(), 1_000_000);
    assert_eq!(lead_errors.len(), 10, "{lead_errors:?}");
    assert_eq!(lead_errors[0], "99999");
}

#[tokio::test]
async fn score_stream_answers_match_unary_score() {
    let app = spawn_app().await;
    let request = message(3);
    let unary = app
        .client()
        .score(request.clone())
        .await
        .expect("Score")
        .into_inner();
    let mut streamed = app
        .client()
        .score_stream(tokio_stream::iter(vec![request]))
        .await
        .expect("ScoreStream")
        .into_inner();
    let answer = streamed.next().await.expect("one answer").expect("ok");
    assert_eq!(answer.scores, unary.scores);
    assert!(
        streamed.next().await.is_none(),
        "the stream ends when the client's does"
    );
}

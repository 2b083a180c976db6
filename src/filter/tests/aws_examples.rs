//! The AWS documentation's filtering examples as a table: pattern, record, match or not.
//!
//! Sources (each case names one):
//! - `kafka`: Lambda, "Filtering events from Amazon MSK and self-managed Apache Kafka event
//!   sources" (docs.aws.amazon.com/lambda/latest/dg/kafka-filtering.html).
//! - `lambda-syntax`, `lambda-examples`: Lambda, "Control which events Lambda sends to your
//!   function", sections "Filter rule syntax" and "Filtering examples"
//!   (docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html).
//! - `eb-content`: EventBridge, "Content filtering in Amazon EventBridge event patterns"
//!   (docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html),
//!   which Lambda's "Filter rule syntax" defers to; `eb-arrays` and `eb-null` are its
//!   "Arrays" and "Matching null values and empty strings" pages.
//!
//! Events from non-Kafka sources are put in the record's `value` and their patterns under
//! `"value"`, as a Kafka filter must; the Kinesis `partitionKey` example becomes `topic`.

use crate::filter::{Pattern, RecordView};

const EC2: &str = r#"{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"123456789012","time":"2015-11-11T21:29:54Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],"detail":{"instance-id":"i-abcd1111","state":"pending"}}"#;
const DEVICE: &str =
    r#"{"device_ID":"AB1234","session":{"start_time":"yyyy-mm-ddThh:mm:ss","duration":162}}"#;
const NULLS: &str = r#"{"version":"0","id":"3e3c153a-8339-4e30-8c35-687ebef853fe","detail-type":"EC2 Instance Launch Successful","source":"aws.autoscaling","account":"123456789012","time":"2015-11-11T21:31:47Z","region":"us-east-1","resources":[],"detail":{"eventVersion":"","responseElements":null}}"#;
const DYNAMO: &str = r#"{"Keys":{"Id":{"N":"101"}},"NewImage":{"Message":{"S":"New item!"},"Id":{"N":"101"}},"SequenceNumber":"111","SizeBytes":26,"StreamViewType":"NEW_AND_OLD_IMAGES"}"#;
const COMPLEX: &str = r#"{"value":{"time":[{"prefix":"2017-10-02"}],"detail":{"state":[{"anything-but":"initializing"}],"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"anything-but":[100,200,300]}]}}}"#;
const NUMERIC3: &str = r#"{"value":{"detail":{"c-count":[{"numeric":[">",0,"<=",5]}],"d-count":[{"numeric":["<",10]}],"x-limit":[{"numeric":["=",3.018e2]}]}}}"#;
const OR3: &str = r#"{"value":{"detail":{"$or":[{"c-count":[{"numeric":[">",0,"<=",5]}]},{"d-count":[{"numeric":["<",10]}]},{"x-limit":[{"numeric":["=",3.018e2]}]}]}}}"#;
const RESOURCES: &str = r#"{"value":{"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f","arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f","arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}}"#;

/// (source, pattern, record value, topic, whether it matches)
type Case = (&'static str, &'static str, &'static str, &'static str, bool);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Kafka: JSON values match nested patterns, plain strings match value lists.
    ("kafka", r#"{"value":{"device_ID":[{"prefix":"AB"}]}}"#, DEVICE, "mytopic", true),
    ("kafka", r#"{"value":{"device_ID":[{"prefix":"AB"}]}}"#, r#"{"device_ID":"CD5678"}"#, "mytopic", false),
    ("kafka", r#"{"value":{"device_ID":[{"prefix":"AB"}]}}"#, "AB1234 as plain text", "mytopic", false),
    ("kafka", r#"{"value":{"device_ID":["AB1234"]}}"#, DEVICE, "mytopic", true),
    ("kafka", r#"{"value":{"session":{"duration":[{"numeric":[">",100]}]}}}"#, DEVICE, "mytopic", true),
    ("kafka", r#"{"value":{"session":{"duration":[{"numeric":["<",100]}]}}}"#, DEVICE, "mytopic", false),
    ("kafka", r#"{"value":[{"anything-but":["error"]}]}"#, "Hello, this is a test.", "mytopic", true),
    ("kafka", r#"{"value":[{"anything-but":["error"]}]}"#, "error", "mytopic", false),
    ("kafka", r#"{"value":[{"anything-but":["error"]}]}"#, DEVICE, "mytopic", false),
    ("kafka", r#"{"value":[{"prefix":"Hello"}]}"#, "Hello, this is a test.", "mytopic", true),
    // Lambda "Filter rule syntax" table.
    ("lambda-syntax", r#"{"value":{"UserID":[null]}}"#, r#"{"UserID":null}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"UserID":[null]}}"#, r#"{"UserID":"u-1"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"UserID":[null]}}"#, r#"{"Other":1}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"LastName":[""]}}"#, r#"{"LastName":""}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"LastName":[""]}}"#, r#"{"LastName":null}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Name":["Alice"]}}"#, r#"{"Name":"Alice"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Name":["Alice"]}}"#, r#"{"Name":"alice"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Name":[{"equals-ignore-case":"alice"}]}}"#, r#"{"Name":"ALICE"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Name":[{"equals-ignore-case":"alice"}]}}"#, r#"{"Name":"Alicia"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Location":["New York"],"Day":["Monday"]}}"#, r#"{"Location":"New York","Day":"Monday"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Location":["New York"],"Day":["Monday"]}}"#, r#"{"Location":"New York","Day":"Tuesday"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"PaymentType":["Credit","Debit"]}}"#, r#"{"PaymentType":"Debit"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"PaymentType":["Credit","Debit"]}}"#, r#"{"PaymentType":"Cash"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Weather":[{"anything-but":["Raining"]}]}}"#, r#"{"Weather":"Sunny"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Weather":[{"anything-but":["Raining"]}]}}"#, r#"{"Weather":"Raining"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Weather":[{"anything-but":["Raining"]}]}}"#, r#"{"Sky":"Blue"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Price":[{"numeric":["=",100]}]}}"#, r#"{"Price":100}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Price":[{"numeric":["=",100]}]}}"#, r#"{"Price":100.0}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Price":[{"numeric":["=",100]}]}}"#, r#"{"Price":"100"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Price":[{"numeric":[">",10,"<=",20]}]}}"#, r#"{"Price":20}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Price":[{"numeric":[">",10,"<=",20]}]}}"#, r#"{"Price":10}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Price":[{"numeric":[">",10,"<=",20]}]}}"#, r#"{"Price":15.5}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"ProductName":[{"exists":true}]}}"#, r#"{"ProductName":"Widget"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"ProductName":[{"exists":true}]}}"#, r#"{"Price":1}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"ProductName":[{"exists":false}]}}"#, r#"{"Price":1}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"ProductName":[{"exists":false}]}}"#, r#"{"ProductName":"Widget"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"Region":[{"prefix":"us-"}]}}"#, r#"{"Region":"us-east-1"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"Region":[{"prefix":"us-"}]}}"#, r#"{"Region":"eu-west-1"}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"FileName":[{"suffix":".png"}]}}"#, r#"{"FileName":"image.png"}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"FileName":[{"suffix":".png"}]}}"#, r#"{"FileName":"image.jpg"}"#, "mytopic", false),
    // "For numbers, Lambda also uses string representation: 300, 300.0 and 3.0e2 are not equal."
    ("lambda-syntax", r#"{"value":{"a":[300]}}"#, r#"{"a":300}"#, "mytopic", true),
    ("lambda-syntax", r#"{"value":{"a":[300]}}"#, r#"{"a":300.0}"#, "mytopic", false),
    ("lambda-syntax", r#"{"value":{"a":[300]}}"#, r#"{"a":"300"}"#, "mytopic", false),
    // Lambda "Filtering examples".
    ("lambda-examples", r#"{"topic":["mytopic"],"value":{"Location":["Los Angeles"]}}"#, r#"{"City":"Los Angeles","Location":"Los Angeles"}"#, "mytopic", true),
    ("lambda-examples", r#"{"topic":["mytopic"],"value":{"Location":["Los Angeles"]}}"#, r#"{"Location":"Los Angeles"}"#, "othertopic", false),
    ("lambda-examples", r#"{"value":{"Temperature":[{"numeric":[">",50,"<=",60]}]}}"#, r#"{"City":"Seattle","Temperature":55}"#, "mytopic", true),
    ("lambda-examples", r#"{"value":{"Temperature":[{"numeric":[">",50,"<=",60]}]}}"#, r#"{"City":"Seattle","Temperature":65}"#, "mytopic", false),
    ("lambda-examples", r#"{"value":{"Temperature":[{"numeric":[">",40,"<=",60]}]}}"#, r#"{"City":"Seattle","State":"WA","Temperature":"46","Month":"December"}"#, "mytopic", false),
    ("lambda-examples", r#"{"value":{"Keys":{"Id":{"N":["101"]}}}}"#, DYNAMO, "mytopic", true),
    ("lambda-examples", r#"{"value":{"Keys":{"Id":{"N":["102"]}}}}"#, DYNAMO, "mytopic", false),
    ("lambda-examples", r#"{"value":{"a":[1,2]}}"#, r#"{"a":2}"#, "mytopic", true),
    ("lambda-examples", r#"{"value":{"a":[1,2]}}"#, r#"{"a":3}"#, "mytopic", false),
    // EventBridge content filtering.
    ("eb-content", r#"{"value":{"time":[{"prefix":"2017-10-02"}]}}"#, r#"{"time":"2017-10-02T18:43:48Z"}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"time":[{"prefix":"2017-10-02"}]}}"#, EC2, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"state":[{"anything-but":"initializing"}]}}}"#, EC2, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"state":[{"anything-but":"initializing"}]}}}"#, r#"{"detail":{"state":"initializing"}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"x-limit":[{"anything-but":123}]}}}"#, r#"{"detail":{"x-limit":456}}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"x-limit":[{"anything-but":123}]}}}"#, r#"{"detail":{"x-limit":123}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}}"#, r#"{"detail":{"state":"stopped"}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"state":[{"anything-but":["stopped","overloaded"]}]}}}"#, r#"{"detail":{"state":"running"}}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"x-limit":[{"anything-but":[100,200,300]}]}}}"#, r#"{"detail":{"x-limit":200}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"x-limit":[{"anything-but":[100,200,300]}]}}}"#, r#"{"detail":{"x-limit":400}}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"state":[{"anything-but":{"prefix":"init"}}]}}}"#, r#"{"detail":{"state":"initializing"}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"state":[{"anything-but":{"prefix":"init"}}]}}}"#, EC2, "mytopic", true),
    ("eb-content", r#"{"value":{"source":[{"anything-but":{"prefix":"aws."}}]}}"#, EC2, "mytopic", false),
    ("eb-content", r#"{"value":{"source":[{"anything-but":{"prefix":"aws."}}]}}"#, r#"{"source":"com.mycompany.myapp"}"#, "mytopic", true),
    ("eb-content", NUMERIC3, r#"{"detail":{"c-count":3,"d-count":5,"x-limit":301.8}}"#, "mytopic", true),
    ("eb-content", NUMERIC3, r#"{"detail":{"c-count":6,"d-count":5,"x-limit":301.8}}"#, "mytopic", false),
    ("eb-content", NUMERIC3, r#"{"detail":{"c-count":0,"d-count":5,"x-limit":301.8}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}}"#, r#"{"detail":{"sourceIPAddress":"10.0.0.255"}}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"sourceIPAddress":[{"cidr":"10.0.0.0/24"}]}}}"#, r#"{"detail":{"sourceIPAddress":"10.0.1.1"}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"sourceIPAddress":[{"cidr":"2001:db8::/32"}]}}}"#, r#"{"detail":{"sourceIPAddress":"2001:db8::17"}}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"state":[{"exists":true}]}}}"#, EC2, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"state":[{"exists":true}]}}}"#, r#"{"detail-type":["EC2 Instance State-change Notification"],"detail":{"c-count":{"c1":100}}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"c-count":[{"exists":true}]}}}"#, r#"{"detail":{"c-count":{"c1":100}}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail":{"c-count":[{"exists":false}]}}}"#, EC2, "mytopic", true),
    ("eb-content", COMPLEX, r#"{"time":"2017-10-02T18:43:48Z","detail":{"state":"running","c-count":3,"d-count":2,"x-limit":150}}"#, "mytopic", true),
    ("eb-content", COMPLEX, r#"{"time":"2017-10-02T18:43:48Z","detail":{"state":"running","c-count":3,"d-count":2,"x-limit":200}}"#, "mytopic", false),
    ("eb-content", COMPLEX, r#"{"time":"2017-10-02T18:43:48Z","detail":{"state":"initializing","c-count":3,"d-count":2,"x-limit":150}}"#, "mytopic", false),
    // "If you include a key more than once the last reference will be the one used."
    ("eb-content", r#"{"value":{"detail":{"location":[{"prefix":"us-"}],"location":[{"anything-but":"us-east"}]}}}"#, r#"{"detail":{"location":"eu-west"}}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"location":[{"prefix":"us-"}],"location":[{"anything-but":"us-east"}]}}}"#, r#"{"detail":{"location":"us-east"}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"detail-type":[{"equals-ignore-case":"ec2 instance state-change notification"}]}}"#, EC2, "mytopic", true),
    ("eb-content", r#"{"value":{"detail-type":[{"prefix":{"equals-ignore-case":"EC2 INSTANCE"}}]}}"#, EC2, "mytopic", true),
    ("eb-content", r#"{"value":{"detail-type":[{"suffix":{"equals-ignore-case":"NOTIFICATION"}}]}}"#, EC2, "mytopic", true),
    ("eb-content", r#"{"value":{"EventBusArn":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]}}"#, r#"{"EventBusArn":"arn:aws:events:us-east-1:123456789012:event-bus/default"}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"EventBusArn":[{"wildcard":"arn:aws:events:us-east-1:*:event-bus/*"}]}}"#, r#"{"EventBusArn":"arn:aws:events:us-west-2:123456789012:event-bus/default"}"#, "mytopic", false),
    ("eb-content", OR3, r#"{"detail":{"c-count":10,"d-count":20,"x-limit":301.8}}"#, "mytopic", true),
    ("eb-content", OR3, r#"{"detail":{"c-count":3,"d-count":20,"x-limit":1}}"#, "mytopic", true),
    ("eb-content", OR3, r#"{"detail":{"c-count":10,"d-count":20,"x-limit":1}}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"FileName":[{"anything-but":{"suffix":".txt"}}]}}"#, r#"{"FileName":"notes.txt"}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"FileName":[{"anything-but":{"suffix":".txt"}}]}}"#, r#"{"FileName":"image.png"}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}}"#, r#"{"FilePath":"/usr/lib/libc.so"}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"FilePath":[{"anything-but":{"wildcard":"*/lib/*"}}]}}"#, r#"{"FilePath":"/usr/bin/ls"}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"state":[{"anything-but":{"equals-ignore-case":["Stopped","OverLoaded"]}}]}}"#, r#"{"state":"stopped"}"#, "mytopic", false),
    ("eb-content", r#"{"value":{"state":[{"anything-but":{"equals-ignore-case":["Stopped","OverLoaded"]}}]}}"#, r#"{"state":"running"}"#, "mytopic", true),
    ("eb-content", r#"{"value":{"detail":{"state":["running"]}}}"#, r#"{"detail":{"state":["initializing","running"]}}"#, "mytopic", true),
    // EventBridge arrays: any element of the event's array matches any value of the pattern's.
    ("eb-arrays", RESOURCES, r#"{"resources":["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate","arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}"#, "mytopic", true),
    ("eb-arrays", RESOURCES, r#"{"resources":["arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f"]}"#, "mytopic", false),
    ("eb-arrays", RESOURCES, r#"{"resources":[]}"#, "mytopic", false),
    // EventBridge null values and empty strings: not interchangeable.
    ("eb-null", r#"{"value":{"detail":{"eventVersion":[""]}}}"#, NULLS, "mytopic", true),
    ("eb-null", r#"{"value":{"detail":{"responseElements":[null]}}}"#, NULLS, "mytopic", true),
    ("eb-null", r#"{"value":{"detail":{"eventVersion":[null]}}}"#, NULLS, "mytopic", false),
    ("eb-null", r#"{"value":{"detail":{"responseElements":[""]}}}"#, NULLS, "mytopic", false),
];

#[test]
fn the_documented_examples() {
    assert!(CASES.len() >= 60, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for (i, &(source, pattern, value, topic, expected)) in CASES.iter().enumerate() {
        let p = match Pattern::parse(pattern) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("#{i} ({source}) {pattern}: refused: {e}"));
                continue;
            }
        };
        let record = RecordView::with_value(topic, Some(value.as_bytes()));
        if p.matches(&record) != expected {
            failures.push(format!(
                "#{i} ({source}) {pattern} on {value} (topic {topic}): expected {expected}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

use super::*;

#[test]
fn control_keys() {
    assert_eq!(
        control_record_type(Some(&[0, 0, 0, 0])).unwrap(),
        ControlRecordType::Abort
    );
    assert_eq!(
        control_record_type(Some(&[0, 0, 0, 1])).unwrap(),
        ControlRecordType::Commit
    );
    assert_eq!(
        control_record_type(Some(&[0, 1, 0, 7, 9, 9])).unwrap(),
        ControlRecordType::Unknown(7)
    );
    assert!(control_record_type(Some(&[0, 0, 0])).is_err());
    assert!(control_record_type(Some(&[0xff, 0xff, 0, 0])).is_err());
    assert!(control_record_type(None).is_err());
}

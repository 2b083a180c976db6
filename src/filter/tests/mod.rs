mod aws_examples;

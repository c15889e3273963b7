<?php
// A stand-in for the ring group labels, written for these tests.

$text['option-sequence']['en-us'] = "Sequence";
$text['option-sequence']['de-de'] = "Sequenz";

$text['option-rollover']['en-us'] = "Rollover";
$text['option-rollover']['de-de'] = "Rotierend";
$text['option-rollover']['fr-fr'] = "capotage";

$text['option-random']['en-us'] = "Random";

?>

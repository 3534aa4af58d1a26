"""Tests of the faq package (knowledge base, matcher, shelters, evaluation, command line)."""

"""Pure Anthropic ⇄ OpenAI translation: no I/O, no clock, no globals; ids are passed in."""

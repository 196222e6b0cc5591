"""What terminal and collector both speak: signing, batch encoding, deny-list records."""
